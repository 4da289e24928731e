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

/// What a pass that listed the host and found nothing reports.
fn listed() -> PassSummary {
    PassSummary {
        view: Some(HostView::default()),
        ..PassSummary::default()
    }
}

/// (passes as detail, tenants to reconcile) from a poll.
fn split(commands: Vec<Command>) -> (Vec<Detail>, Vec<String>) {
    let mut passes = vec![];
    let mut tenants = vec![];
    for c in commands {
        match c {
            Command::Pass { detail, .. } => passes.push(detail),
            Command::Reconcile { tenant, .. } => tenants.push(tenant),
            Command::Rollout { .. } => panic!("no rollout expected"),
        }
    }
    (passes, tenants)
}

fn event(tenant: &str) -> ContainerEvent {
    ContainerEvent {
        tenant: tenant.into(),
        container: format!("mai-{tenant}"),
        action: crate::trigger::EventAction::Die,
    }
}

/// The first poll after the first load: the pass that fills the host view,
/// then (once it reported) the tenants.
fn first_pass(m: &mut Machine, now: Instant) -> Vec<String> {
    let (passes, tenants) = split(m.poll(now));
    assert_eq!(
        passes,
        vec![Detail::ListOnly],
        "the first pass fills the view"
    );
    assert!(tenants.is_empty(), "no reconcile before the view is filled");
    m.on_pass(Some(listed()), now);
    split(m.poll(now)).1
}

/// A machine whose tenants (at most the concurrency, 2) were each
/// reconciled once and found in sync.
fn settled(names: &[&str]) -> (Instant, Machine) {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(names)));
    for tenant in first_pass(&mut m, now) {
        m.on_reconciled(&tenant, Outcome::InSync, None, now);
    }
    (now, m)
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
    m.on_event(&event("a"));
    m.on_relist();
    assert!(m.poll(now).is_empty());
    assert!(m.poll(now + VERIFY).is_empty(), "timers alone do nothing");
}

#[test]
fn the_first_state_fills_the_view_then_runs_every_tenant_once_within_the_bound() {
    let now = Instant::now();
    let mut m = machine(now);
    let loaded = m.on_loaded("", Ok(fleet(&["a", "b", "c"])));
    assert!(matches!(loaded, Loaded::Applied { changed: 3, .. }));
    assert_eq!(first_pass(&mut m, now), vec!["a", "b"], "concurrency 2");
    assert!(m.poll(now).is_empty(), "slots full");
    assert!(!m.on_reconciled("a", Outcome::Changed, None, now));
    let (passes, tenants) = split(m.poll(now));
    assert!(
        passes.is_empty(),
        "c still to do: the pass after changes waits"
    );
    assert_eq!(tenants, vec!["c"]);
}

#[test]
fn a_failed_first_pass_reconciles_nobody_until_a_pass_succeeds() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a"])));
    assert_eq!(split(m.poll(now)).0, vec![Detail::ListOnly]);
    m.on_pass(None, now); // Docker did not answer
    assert!(m.poll(now).is_empty());
    let (passes, tenants) = split(m.poll(now + RESYNC));
    assert_eq!((passes, tenants), (vec![Detail::ListOnly], vec![]));
    m.on_pass(Some(listed()), now);
    assert_eq!(split(m.poll(now + RESYNC)).1, vec!["a"]);
}

#[test]
fn events_and_reconciles_keep_the_view_current_between_passes() {
    use crate::desired::DesiredTenant;
    let now = Instant::now();
    let mut m = machine(now);
    let desired = fleet(&["a", "b"]);
    m.on_loaded("", Ok(desired.clone()));
    let _ = split(m.poll(now));
    m.on_pass(
        Some(PassSummary {
            view: Some(HostView::from_pass(crate::fixtures::converged(&desired))),
            ..Default::default()
        }),
        now,
    );
    let view = |m: &mut Machine| match m.poll(now).pop() {
        Some(Command::Reconcile { view, .. }) => view,
        other => panic!("{other:?}"),
    };
    // Each reconcile gets its own slice of the view: b's holds mai-b.
    let before = view(&mut m);
    assert!(before.containers.contains_key("mai-b"));
    assert!(!before.containers.contains_key("mai-a"), "only b's part");
    m.on_reconciled("a", Outcome::InSync, None, now);
    m.on_reconciled("b", Outcome::InSync, None, now);
    let mut gone = event("a");
    gone.action = crate::trigger::EventAction::Destroy;
    m.on_event(&gone);
    let after = view(&mut m);
    assert!(
        !after.containers.contains_key("mai-a"),
        "the event updated it"
    );
    assert!(
        before.containers.contains_key("mai-b"),
        "in-flight snapshots are untouched"
    );
    let only_a = crate::fixtures::desired_state(vec![DesiredTenant::test("a", 8001)]);
    m.on_reconciled(
        "a",
        Outcome::Changed,
        Some(&crate::fixtures::converged(&only_a)),
        now,
    );
    m.on_event(&event("a"));
    assert!(
        view(&mut m).containers.contains_key("mai-a"),
        "the reconcile's look merged"
    );
}

#[test]
fn an_edit_queues_exactly_the_changed_tenants_and_a_removal_asks_for_a_pass() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a", "b", "c"])));
    assert_eq!(first_pass(&mut m, now), vec!["a", "b"]);
    m.on_reconciled("a", Outcome::InSync, None, now);
    m.on_reconciled("b", Outcome::InSync, None, now);
    assert_eq!(split(m.poll(now)).1, vec!["c"]);
    m.on_reconciled("c", Outcome::InSync, None, now);
    assert!(m.poll(now).is_empty());

    let mut edited = fleet(&["a", "b"]);
    std::sync::Arc::make_mut(edited.tenants.get_mut("b").unwrap()).image =
        "mai-production:v2".into();
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
    let (now, mut m) = settled(&["a"]);
    m.on_pass(Some(listed()), now);
    assert_eq!(m.on_loaded("", Ok(fleet(&["a"]))), Loaded::Unchanged);
    assert!(m.poll(now).is_empty());
}

#[test]
fn an_invalid_state_keeps_the_last_good_one_and_is_reported_once() {
    let (now, mut m) = settled(&["a"]);
    m.on_pass(Some(listed()), now);
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
    m.on_event(&event("a"));
    let (_, tenants) = split(m.poll(now));
    assert_eq!(tenants, vec!["a"]);
}

#[test]
fn a_pass_queues_what_it_found_out_of_sync_but_not_what_is_in_flight() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a", "b", "c"])));
    let _ = first_pass(&mut m, now); // a, b in flight
    m.on_pass(
        Some(PassSummary {
            view: Some(HostView::default()),
            out_of_sync: vec!["a".into(), "b".into(), "c".into()],
            network: false,
            rollout: vec![],
        }),
        now,
    );
    m.on_reconciled("a", Outcome::Changed, None, now);
    m.on_reconciled("b", Outcome::Changed, None, now);
    let (passes, tenants) = split(m.poll(now));
    assert!(passes.is_empty(), "c still to do: the pass waits");
    assert_eq!(tenants, vec!["c"], "a and b observed afresh already");
    m.on_reconciled("c", Outcome::InSync, None, now);
    let (passes, _) = split(m.poll(now));
    assert_eq!(
        passes,
        vec![Detail::Cached],
        "the changes ask for a pass, read from the view"
    );
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
            m.on_pass(Some(listed()), now);
        }
        now += Duration::from_millis(100);
        for tenant in t {
            reconciles += 1;
            m.on_reconciled(&tenant, Outcome::Changed, None, now);
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
    let (now, mut m) = settled(&["a", "b"]);
    m.on_pass(
        Some(PassSummary {
            view: Some(HostView::default()),
            out_of_sync: vec![],
            network: true,
            rollout: vec![],
        }),
        now,
    );
    let (_, tenants) = split(m.poll(now));
    assert_eq!(tenants, vec!["a"]);
}

#[test]
fn resync_and_verify_timers_ask_for_list_only_and_full_passes() {
    let start = Instant::now();
    let mut m = machine(start);
    m.on_loaded("", Ok(fleet(&["a"])));
    let _ = first_pass(&mut m, start);
    m.on_reconciled("a", Outcome::InSync, None, start);
    m.on_pass(Some(listed()), start);
    assert_eq!(m.next_wake(), start + RESYNC);
    let (passes, _) = split(m.poll(start + RESYNC));
    assert_eq!(passes, vec![Detail::ListOnly]);
    m.on_pass(Some(listed()), start + RESYNC);
    let (passes, _) = split(m.poll(start + VERIFY));
    assert_eq!(passes, vec![Detail::Full]);
}

#[test]
fn pass_requests_coalesce_and_a_full_one_wins() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a"])));
    let _ = first_pass(&mut m, now);
    m.on_relist();
    let _ = m.poll(now); // a pass runs
    m.on_relist();
    m.on_relist();
    m.on_reconciled("a", Outcome::Changed, None, now);
    assert!(split(m.poll(now)).0.is_empty(), "one pass at a time");
    m.on_pass(None, now); // the host could not be read
    let (passes, _) = split(m.poll(now));
    assert_eq!(passes, vec![Detail::ListOnly], "three requests, one pass");
}

#[test]
fn a_failing_tenant_backs_off_and_a_conflict_waits_for_a_hint() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["bad", "blocked"])));
    let _ = first_pass(&mut m, now);
    m.on_pass(Some(listed()), now);
    assert!(m.on_reconciled("bad", Outcome::Failed, None, now));
    assert!(!m.on_reconciled("blocked", Outcome::Blocked, None, now));
    m.on_event(&event("bad")); // events do not cut a backoff short
    assert!(split(m.poll(now)).1.is_empty());
    let retry = m.next_wake();
    assert!(retry > now && retry <= now + Duration::from_secs(1));
    assert_eq!(split(m.poll(retry)).1, vec!["bad"], "retried on its own");
    assert_eq!(
        split(m.poll(now + crate::backoff::BACKOFF_MAX)).1,
        Vec::<String>::new(),
        "the blocked tenant is not retried on a timer"
    );
    m.on_pass(
        Some(PassSummary {
            view: Some(HostView::default()),
            out_of_sync: vec!["blocked".into()],
            network: false,
            rollout: vec![],
        }),
        now,
    );
    assert_eq!(split(m.poll(now)).1, vec!["blocked"]);
}

#[test]
fn an_operators_edit_is_never_held_by_the_churn_limiter() {
    let mut now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["flappy"])));
    let _ = first_pass(&mut m, now);
    m.on_reconciled("flappy", Outcome::InSync, None, now);
    m.on_pass(Some(listed()), now);
    let mut held = false;
    for _ in 0..10 {
        now += Duration::from_secs(1);
        m.on_event(&event("flappy"));
        if !split(m.poll(now)).1.is_empty() {
            held = m.on_reconciled("flappy", Outcome::Changed, None, now);
        }
        m.on_pass(Some(listed()), now);
    }
    assert!(held, "a tenant changed on every event is held");
    let mut edited = fleet(&["flappy"]);
    std::sync::Arc::make_mut(edited.tenants.get_mut("flappy").unwrap()).image =
        "mai-production:v2".into();
    m.on_loaded("", Ok(edited));
    assert_eq!(
        split(m.poll(now)).1,
        vec!["flappy"],
        "the edit runs at once"
    );
}

#[test]
fn a_tenant_that_left_is_not_reconciled_even_if_an_event_names_it() {
    let (now, mut m) = settled(&["a", "b"]);
    m.on_pass(Some(listed()), now);
    m.on_loaded("", Ok(fleet(&["a"])));
    m.on_event(&event("b"));
    let (_, tenants) = split(m.poll(now));
    assert!(tenants.is_empty());
}

#[test]
fn slow_passes_are_spaced_further_apart_during_a_cold_start() {
    let start = Instant::now();
    let mut m = machine(start);
    m.on_loaded("", Ok(fleet(&["a", "b", "c"])));
    let _ = split(m.poll(start));
    // The first pass took 1 s (a large host): change passes wait 10 s.
    m.on_pass(Some(listed()), start + Duration::from_secs(1));
    let now = start + Duration::from_secs(1);
    let (_, tenants) = split(m.poll(now));
    assert_eq!(tenants, vec!["a", "b"]);
    m.on_reconciled("a", Outcome::Changed, None, now);
    assert!(
        split(m.poll(now + CHANGE_PASS_GAP)).0.is_empty(),
        "c and b still to do"
    );
    assert_eq!(m.next_wake(), start + Duration::from_secs(10));
    m.on_reconciled("b", Outcome::Changed, None, now);
    let (passes, _) = split(m.poll(start + Duration::from_secs(10)));
    assert_eq!(passes, vec![Detail::Cached]);
}

#[test]
fn recreates_go_to_one_rollout_at_a_time_not_to_the_queue() {
    let (now, mut m) = settled(&["a", "b", "c"]);
    let plan_with = |members: &[&str]| PassSummary {
        view: Some(HostView::default()),
        out_of_sync: vec![],
        network: false,
        rollout: members.iter().map(|s| s.to_string()).collect(),
    };
    m.on_pass(Some(plan_with(&["a", "b"])), now);
    let commands = m.poll(now);
    let rollouts: Vec<_> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Rollout { tenants, .. } => Some(tenants.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(rollouts, vec![vec!["a".to_string(), "b".to_string()]]);
    // A second pass during the rollout does not start another one.
    m.on_pass(Some(plan_with(&["b"])), now);
    assert!(!m
        .poll(now)
        .iter()
        .any(|c| matches!(c, Command::Rollout { .. })));
    // When it ends a pass looks again (what is left, nginx, metrics).
    m.on_rollout_done();
    assert!(m
        .poll(now)
        .iter()
        .any(|c| matches!(c, Command::Pass { .. })));
}

#[test]
fn a_reconcile_that_leaves_a_recreate_to_the_rollout_asks_for_a_pass_and_waits() {
    let (now, mut m) = settled(&["a"]);
    let _ = m.poll(now);
    m.on_event(&event("a"));
    let (_, tenants) = split(m.poll(now));
    assert_eq!(tenants, vec!["a"]);
    assert!(!m.on_reconciled("a", Outcome::Deferred, None, now));
    let (passes, tenants) = split(m.poll(now));
    assert_eq!(passes, vec![Detail::Cached]);
    assert!(tenants.is_empty(), "not retried on a timer");
}

#[test]
fn a_look_taken_during_a_listing_pass_survives_its_older_listing() {
    use crate::desired::DesiredTenant;
    let (now, mut m) = settled(&["a"]);
    m.on_event(&event("a"));
    let _ = m.poll(now + RESYNC); // a resync pass starts, and a's reconcile
                                  // a's reconcile made its container after the pass had listed.
    let only_a = crate::fixtures::desired_state(vec![DesiredTenant::test("a", 8001)]);
    m.on_reconciled(
        "a",
        Outcome::Changed,
        Some(&crate::fixtures::converged(&only_a)),
        now + RESYNC,
    );
    m.on_pass(Some(listed()), now + RESYNC);
    m.on_event(&event("a"));
    let slice = m.poll(now + RESYNC).into_iter().find_map(|c| match c {
        Command::Reconcile { view, .. } => Some(view),
        _ => None,
    });
    assert!(
        slice
            .expect("a reconciles")
            .containers
            .contains_key("mai-a"),
        "the listing did not undo the reconcile's look"
    );
    assert!(
        !m.take_reopen_events(),
        "not a missed event: the look came after the listing"
    );
}

#[test]
fn a_pass_read_from_the_view_keeps_the_view_and_waits_for_a_first_listing() {
    let now = Instant::now();
    let mut m = machine(now);
    m.on_loaded("", Ok(fleet(&["a"])));
    // Nothing cached yet: even a pass asked for by a change lists.
    assert_eq!(split(m.poll(now)).0, vec![Detail::ListOnly]);
    let mut with_a = HostView::default();
    let c = crate::desired::DesiredTenant::test("a", 8001).matching_container();
    with_a.containers.insert(c.name.clone(), c);
    m.on_pass(
        Some(PassSummary {
            view: Some(with_a),
            ..PassSummary::default()
        }),
        now,
    );
    let _ = m.poll(now);
    m.on_reconciled("a", Outcome::Changed, None, now);
    let commands = m.poll(now);
    let Some(Command::Pass { detail, view, .. }) = commands.first() else {
        panic!("{commands:?}")
    };
    assert_eq!(*detail, Detail::Cached);
    assert!(view
        .as_ref()
        .is_some_and(|v| v.containers.contains_key("mai-a")));
    // It reports no view: the cached one stays.
    m.on_pass(Some(PassSummary::default()), now);
    m.on_event(&event("a"));
    let slice = m.poll(now).into_iter().find_map(|c| match c {
        Command::Reconcile { view, .. } => Some(view),
        _ => None,
    });
    assert!(slice
        .expect("a reconciles")
        .containers
        .contains_key("mai-a"));
}

#[test]
fn a_container_removed_under_a_reconcile_waits_for_the_removal_not_a_backoff() {
    let (now, mut m) = settled(&["gone"]);
    // `docker rm -f`: the die event's reconcile found it being removed.
    m.on_event(&event("gone"));
    assert_eq!(split(m.poll(now)).1, vec!["gone"]);
    // The destroy event arrives while that reconcile still runs.
    m.on_event(&event("gone"));
    assert!(
        !m.on_reconciled("gone", Outcome::Stale, None, now),
        "no backoff"
    );
    assert_eq!(split(m.poll(now)).1, vec!["gone"], "again at once");
    // Stale with no event after it: it waits (no timer), then an event
    // makes it due at once.
    assert!(!m.on_reconciled("gone", Outcome::Stale, None, now));
    assert!(split(m.poll(now + Duration::from_secs(60))).1.is_empty());
    m.on_event(&event("gone"));
    assert_eq!(split(m.poll(now)).1, vec!["gone"]);
}

#[test]
fn a_tenant_found_held_by_the_rollout_is_reconciled_as_soon_as_it_ends() {
    let (now, mut m) = settled(&["a"]);
    m.on_pass(
        Some(PassSummary {
            view: Some(HostView::default()),
            rollout: vec!["a".into()],
            ..PassSummary::default()
        }),
        now,
    );
    let _ = m.poll(now);
    // Its container is removed by hand under the rollout: the event's
    // reconcile finds the tenant held by it.
    m.on_event(&event("a"));
    let reconciles = |commands: Vec<Command>| -> Vec<String> {
        commands
            .into_iter()
            .filter_map(|c| match c {
                Command::Reconcile { tenant, .. } => Some(tenant),
                _ => None,
            })
            .collect()
    };
    assert_eq!(reconciles(m.poll(now)), vec!["a"]);
    m.on_reconciled("a", Outcome::Held, None, now);
    assert!(reconciles(m.poll(now)).is_empty(), "not while held");
    let later = now + Duration::from_millis(100);
    m.on_rollout_done();
    assert_eq!(reconciles(m.poll(later)), vec!["a"], "at once, not in 1 s");
}
