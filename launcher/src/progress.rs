//! A progress bar for long reads: drawn on stderr only when stderr is a terminal and only once
//! the work has taken more than a second, redrawn at most ten times a second, erased at the end.
//! Invariant: never writes anything when hidden, so piped output and tests stay clean.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How long work runs before the bar appears; `SCOPE_PROGRESS_AFTER_MS` overrides it (tests).
const DELAY: Duration = Duration::from_secs(1);
const EVERY: Duration = Duration::from_millis(100);
const WIDTH: usize = 30;

pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    started: Instant,
    delay: Duration,
    last_draw: Option<Instant>,
    enabled: bool,
}

impl Progress {
    /// A bar over `total` units that shows itself on a terminal after a second.
    pub fn new(label: &str, total: u64) -> Progress {
        Progress {
            label: label.to_string(),
            total,
            done: 0,
            started: Instant::now(),
            delay: std::env::var("SCOPE_PROGRESS_AFTER_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(DELAY, Duration::from_millis),
            last_draw: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// A bar that never draws (scope-run's summary, library callers).
    pub fn hidden() -> Progress {
        let mut p = Progress::new("", 0);
        p.enabled = false;
        p
    }

    pub fn add(&mut self, n: u64) {
        self.done = self.done.saturating_add(n);
        if !self.enabled || self.started.elapsed() < self.delay {
            return;
        }
        if self.last_draw.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let _ = write!(std::io::stderr(), "\r{}", self.line());
    }

    /// The bar as drawn: `label [######        ]  45%  1800000/4000000 events`.
    pub fn line(&self) -> String {
        let frac = if self.total == 0 {
            1.0
        } else {
            (self.done as f64 / self.total as f64).min(1.0)
        };
        let fill = (frac * WIDTH as f64).round() as usize;
        format!(
            "{} [{}{}] {:3.0}%  {}/{} events",
            self.label,
            "#".repeat(fill),
            " ".repeat(WIDTH - fill),
            frac * 100.0,
            self.done,
            self.total
        )
    }

    /// Erases the bar if it was drawn.
    pub fn finish(&mut self) {
        if self.last_draw.take().is_some() {
            let blank = " ".repeat(self.line().chars().count());
            let _ = write!(std::io::stderr(), "\r{blank}\r");
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_fraction_and_counts() {
        let mut p = Progress::hidden();
        p.total = 4;
        p.label = "reading".into();
        p.add(1);
        assert_eq!(
            p.line(),
            format!(
                "reading [{}{}]  25%  1/4 events",
                "#".repeat(8),
                " ".repeat(22)
            )
        );
    }
}
