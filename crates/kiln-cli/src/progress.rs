//! Progress display on stderr (indicatif), silenced by `--quiet` and when stderr is not a
//! terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Creates spinners for long steps.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Self { quiet }
    }

    /// A spinner with a message; finish it with [`Step::done`].
    pub fn step(&self, message: impl Into<String>) -> Step {
        let bar = if self.quiet {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        };
        bar.set_message(message.into());
        Step { bar }
    }
}

/// One running step.
#[derive(Debug)]
pub struct Step {
    bar: ProgressBar,
}

impl Step {
    /// Replace the message (for example with the latest epoch's numbers).
    pub fn set_message(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    pub fn done(self) {
        self.bar.finish_and_clear();
    }
}
