//! The controller's decisions without Docker: inputs in, time passed in,
//! commands out (the way linkerd2's policy controller tests its index).

use super::*;
use crate::desired::DesiredTenant;
use crate::fixtures::desired_state;

const RESYNC: Duration = Duration::from_secs(30);
const VERIFY: Duration = Duration::from_secs(300);

fn machine(now: Instant) -> Machine {
    Machine::new(
        Intervals {
            resync: RESYNC,
            verify: VERIFY,
        },
        2,
        now,
    )
}

fn fleet(names: &[&str]) -> DesiredState {
    desired_state(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| DesiredTenant::test(n, 8001 + i as u16))
            .collect(),
    )
}

/// (passes as detail, tenants to reconcile) from a poll.
fn split(commands: Vec<Command>) -> (Vec<Detail>, Vec<String>) {
    let mut passes = vec![];
    let mut tenants = vec![];
    for c in commands {
        match c {
            Command::Pass { detail, .. } => passes.push(detail),
            Command::Reconcile { tenant, .. } => tenants.push(tenant),
        }
    }
    (passes, tenants)
}

fn refused() -> Result<DesiredState, Diagnostics> {
    Err(Diagnostics(vec![crate::diagnostic::at_line(
        std::path::Path::new("tenants.toml"),
        3,
        "bad",
    )]))
}

#[test]
fn nothing_runs_before_a_desired_state_is_loaded() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_event("a");
    m.on_relist();
    assert!(m.poll(now).is_empty());
    assert!(m.poll(now + VERIFY).is_empty(), "timers alone do nothing");
}

#[test]
fn the_first_state_runs_a_full_pass_and_every_tenant_once_within_the_bound() {
    let now = Instant::now();
    let mut m = machine(now);
    let loaded = m.on_loaded("", Ok(fleet(&["a", "b", "c"])));
    assert!(matches!(loaded, Loaded::Applied { changed: 3, .. }));
    let (passes, tenants) = split(m.poll(now));
    assert_eq!(passes, vec![Detail::Full]);
    assert_eq!(tenants, vec!["a", "b"], "concurrency 2");
    assert!(m.poll(now).is_empty(), "one pass at a time, slots full");
    assert!(!m.on_reconciled("a", Outcome::Changed, now));
    let (passes, tenants) = split(m.poll(now));
    assert!(passes.is_empty(), "the full pass still runs");
    assert_eq!(tenants, vec!["c"]);
}

#[test]
fn an_edit_queues_exactly_the_changed_tenants_and_a_removal_asks_for_a_pass() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a", "b", "c"])));
    let _ = m.poll(now);
    for t in ["a", "b", "c"] {
        m.on_reconciled(t, Outcome::InSync, now);
    }
    m.on_pass(Some(PassSummary::default()));
    let _ = m.poll(now);
    assert!(m.poll(now).is_empty());

    let mut edited = fleet(&["a", "b"]);
    edited.tenants.get_mut("b").unwrap().image = "mai-production:v2".into();
    match m.on_loaded("rev2", Ok(edited)) {
        Loaded::Applied { changed, left, .. } => {
            assert_eq!(changed, 1);
            assert_eq!(left, vec!["c".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.revision(), "rev2");
    let (passes, tenants) = split(m.poll(now));
    assert_eq!(
        passes,
        vec![Detail::ListOnly],
        "finds c's container as an orphan"
    );
    assert_eq!(tenants, vec!["b"]);
}

#[test]
fn the_same_state_again_changes_nothing() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a"])));
    let _ = m.poll(now);
    m.on_reconciled("a", Outcome::InSync, now);
    m.on_pass(Some(PassSummary::default()));
    assert_eq!(m.on_loaded("", Ok(fleet(&["a"]))), Loaded::Unchanged);
    assert!(m.poll(now).is_empty());
}

#[test]
fn an_invalid_state_keeps_the_last_good_one_and_is_reported_once() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a"])));
    let _ = m.poll(now);
    m.on_reconciled("a", Outcome::InSync, now);
    m.on_pass(Some(PassSummary::default()));
    assert_eq!(
        m.on_loaded("", refused()),
        Loaded::Refused { repeated: false }
    );
    assert_eq!(
        m.on_loaded("", refused()),
        Loaded::Refused { repeated: true }
    );
    assert!(m.desired().unwrap().tenants.contains_key("a"));
    // The last good state is still enforced: a hand `docker stop` is healed.
    m.on_event("a");
    let (_, tenants) = split(m.poll(now));
    assert_eq!(tenants, vec!["a"]);
}

#[test]
fn a_pass_queues_what_it_found_out_of_sync_but_not_what_is_in_flight() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a", "b", "c"])));
    let _ = m.poll(now); // pass + a, b in flight
    m.on_pass(Some(PassSummary {
        out_of_sync: vec!["a".into(), "b".into(), "c".into()],
        network: false,
    }));
    m.on_reconciled("a", Outcome::Changed, now);
    m.on_reconciled("b", Outcome::Changed, now);
    let (passes, tenants) = split(m.poll(now));
    assert!(passes.is_empty(), "c still to do: the pass waits");
    assert_eq!(tenants, vec!["c"], "a and b observed afresh already");
    m.on_reconciled("c", Outcome::InSync, now);
    let (passes, _) = split(m.poll(now));
    assert_eq!(passes, vec![Detail::ListOnly], "the changes ask for a pass");
}

#[test]
fn during_a_cold_start_changes_ask_for_a_pass_at_most_every_gap() {
    let start = Instant::now();
    let mut m = Machine::new(
        Intervals {
            resync: RESYNC,
            verify: VERIFY,
        },
        1,
        start,
    );
    let names: Vec<String> = (0..100).map(|i| format!("t{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    m.on_loaded("", Ok(fleet(&refs)));
    let mut now = start;
    let mut passes = 0;
    let mut reconciles = 0;
    // 100 tenants created one at a time, 100 ms each: 10 s in all.
    while reconciles < 100 || passes == 0 {
        let (p, t) = split(m.poll(now));
        passes += p.len();
        for _ in p {
            m.on_pass(Some(PassSummary::default()));
        }
        now += Duration::from_millis(100);
        for tenant in t {
            reconciles += 1;
            m.on_reconciled(&tenant, Outcome::Changed, now);
        }
        assert!(now < start + Duration::from_secs(60));
    }
    let (p, _) = split(m.poll(now));
    passes += p.len();
    assert!(
        (5..=8).contains(&passes),
        "{passes} passes for 100 changes in 10 s (one per {CHANGE_PASS_GAP:?}, and one at the end)"
    );
}

#[test]
fn a_missing_network_is_fixed_by_one_reconcile() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a", "b"])));
    let _ = m.poll(now);
    m.on_reconciled("a", Outcome::InSync, now);
    m.on_reconciled("b", Outcome::InSync, now);
    m.on_pass(Some(PassSummary {
        out_of_sync: vec![],
        network: true,
    }));
    let (_, tenants) = split(m.poll(now));
    assert_eq!(tenants, vec!["a"]);
}

#[test]
fn resync_and_verify_timers_ask_for_list_only_and_full_passes() {
    let start = Instant::now();
    let mut m = machine(start);
    m.on_loaded("", Ok(fleet(&["a"])));
    let _ = m.poll(start);
    m.on_reconciled("a", Outcome::InSync, start);
    m.on_pass(Some(PassSummary::default()));
    assert_eq!(m.next_wake(), start + RESYNC);
    let (passes, _) = split(m.poll(start + RESYNC));
    assert_eq!(passes, vec![Detail::ListOnly]);
    m.on_pass(Some(PassSummary::default()));
    let (passes, _) = split(m.poll(start + VERIFY));
    assert_eq!(passes, vec![Detail::Full]);
}

#[test]
fn pass_requests_coalesce_and_a_full_one_wins() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a"])));
    let _ = m.poll(now); // the full pass runs
    m.on_relist();
    m.on_relist();
    m.on_reconciled("a", Outcome::Changed, now);
    assert!(split(m.poll(now)).0.is_empty(), "one pass at a time");
    m.on_pass(None); // the host could not be read
    let (passes, _) = split(m.poll(now));
    assert_eq!(passes, vec![Detail::ListOnly], "three requests, one pass");
}

#[test]
fn a_failing_tenant_backs_off_and_a_conflict_waits_for_a_hint() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["bad", "blocked"])));
    let _ = m.poll(now);
    m.on_pass(Some(PassSummary::default()));
    assert!(m.on_reconciled("bad", Outcome::Failed, now));
    assert!(!m.on_reconciled("blocked", Outcome::Blocked, now));
    m.on_event("bad"); // events do not cut a backoff short
    assert!(split(m.poll(now)).1.is_empty());
    let retry = m.next_wake();
    assert!(retry > now && retry <= now + Duration::from_secs(1));
    assert_eq!(split(m.poll(retry)).1, vec!["bad"], "retried on its own");
    assert_eq!(
        split(m.poll(now + crate::backoff::BACKOFF_MAX)).1,
        Vec::<String>::new(),
        "the blocked tenant is not retried on a timer"
    );
    m.on_pass(Some(PassSummary {
        out_of_sync: vec!["blocked".into()],
        network: false,
    }));
    assert_eq!(split(m.poll(now)).1, vec!["blocked"]);
}

#[test]
fn an_operators_edit_is_never_held_by_the_churn_limiter() {
    let mut now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["flappy"])));
    let _ = m.poll(now);
    m.on_reconciled("flappy", Outcome::InSync, now);
    m.on_pass(Some(PassSummary::default()));
    let mut held = false;
    for _ in 0..10 {
        now += Duration::from_secs(1);
        m.on_event("flappy");
        if !split(m.poll(now)).1.is_empty() {
            held = m.on_reconciled("flappy", Outcome::Changed, now);
        }
        m.on_pass(Some(PassSummary::default()));
    }
    assert!(held, "a tenant changed on every event is held");
    let mut edited = fleet(&["flappy"]);
    edited.tenants.get_mut("flappy").unwrap().image = "mai-production:v2".into();
    m.on_loaded("", Ok(edited));
    assert_eq!(
        split(m.poll(now)).1,
        vec!["flappy"],
        "the edit runs at once"
    );
}

#[test]
fn a_tenant_that_left_is_not_reconciled_even_if_an_event_names_it() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a", "b"])));
    let _ = m.poll(now);
    m.on_reconciled("a", Outcome::InSync, now);
    m.on_reconciled("b", Outcome::InSync, now);
    m.on_pass(Some(PassSummary::default()));
    m.on_loaded("", Ok(fleet(&["a"])));
    m.on_event("b");
    let (_, tenants) = split(m.poll(now));
    assert!(tenants.is_empty());
}
