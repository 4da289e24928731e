//! Colour for human output: on a terminal only, and never with `NO_COLOR`
//! set (https://no-color.org) — a pipe, a log file or CI gets plain text.

use std::io::IsTerminal;

#[derive(Debug, Clone, Copy)]
pub struct Style {
    on: bool,
}

const TENANT_COLOURS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

impl Style {
    /// For text written to stdout.
    pub fn stdout() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            on: !no_color && std::io::stdout().is_terminal(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// The i-th tenant's colour, for interleaved output.
    pub fn tenant(self, i: usize, text: &str) -> String {
        self.paint(TENANT_COLOURS[i % TENANT_COLOURS.len()], text)
    }

    pub fn good(self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn bad(self, text: &str) -> String {
        self.paint("1;31", text)
    }

    pub fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Whether escape codes are written at all (for redrawing in place).
    pub fn is_terminal(self) -> bool {
        self.on
    }
}
