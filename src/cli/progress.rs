//! Per-tenant results as they finish: above a progress bar when stdout and
//! stderr are a terminal, as plain lines otherwise (a pipe, a log, CI).

use super::style::Style;
use std::io::IsTerminal;
use tenantctl::apply::TenantOutcome;

pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    style: Style,
}

impl Progress {
    /// For `total` tenants with work.
    pub fn new(total: usize) -> Self {
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let bar = (terminal && total > 0).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            let template = "{spinner} [{bar:30}] {pos}/{len} tenants  {elapsed}";
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            style: Style::stdout(),
        }
    }

    /// One line on stdout, above the bar.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| say!("{text}")),
            None => say!("{text}"),
        }
    }

    /// A tenant finished.
    pub fn tenant(&self, t: &TenantOutcome) {
        let text = match (&t.error, t.downtime) {
            (None, Some(d)) => format!(
                "{}   {}: {} (downtime {:.1}s: old container stopped -> new one healthy)",
                self.style.good("ok"),
                t.tenant,
                t.done.join(", "),
                d.as_secs_f64()
            ),
            (None, None) => format!(
                "{}   {}: {}",
                self.style.good("ok"),
                t.tenant,
                t.done.join(", ")
            ),
            (Some(e), _) if t.done.is_empty() => {
                format!("{} {}: {e}", self.style.bad("FAIL"), t.tenant)
            }
            (Some(e), _) => format!(
                "{} {}: {e} (done before: {})",
                self.style.bad("FAIL"),
                t.tenant,
                t.done.join(", ")
            ),
        };
        self.line(&text);
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
