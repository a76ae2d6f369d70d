//! Progress display on stderr (indicatif), silenced by `--quiet` and when stderr is not a
//! terminal: spinners for long steps, and for `kiln train` one line per model. It is the
//! display of the pipeline's progress (`kiln_pipeline::progress`).

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln_core::schema::Task;
use kiln_train::nn::{EpochStats, TrainObserver};

/// Creates spinners for long steps.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    quiet: bool,
}

impl Progress {
    /// A display that shows nothing when `quiet`.
    pub fn new(quiet: bool) -> Self {
        Self { quiet }
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() }
    }

    /// A spinner with a message; finish it with [`Step::done`].
    pub fn step(&self, message: impl Into<String>) -> Step {
        let bar = if self.quiet {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(style("{spinner} {msg} [{elapsed}]"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        };
        bar.set_message(message.into());
        Step { bar }
    }

    /// The board of a training run: one line per model, then a summary line.
    pub fn board(&self) -> Board {
        Board { multi: MultiProgress::with_draw_target(self.target()), started: Instant::now() }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
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

    /// Remove the spinner.
    pub fn done(self) {
        self.bar.finish_and_clear();
    }
}

/// The lines of a training run (indicatif's `MultiProgress`).
#[derive(Debug)]
pub struct Board {
    multi: MultiProgress,
    started: Instant,
}

impl Board {
    /// A line for model `name`: a spinner with the elapsed time until training reports its
    /// epoch budget (neural models), then a bar with the epoch, the last training loss and
    /// validation metric, samples per second and the time left.
    pub fn model(&self, name: &str, kind: &str, task: Task) -> ModelBar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(style("{spinner} {prefix} {msg} [{elapsed}]"));
        bar.set_prefix(format!("{name} ({kind})"));
        bar.set_message("training");
        let bar = self.multi.add(bar);
        bar.enable_steady_tick(Duration::from_millis(120));
        let metric = match task {
            Task::Binary => "valid auc",
            Task::Multiclass => "valid logloss",
            Task::Regression => "valid rmse",
        };
        ModelBar { bar, metric, last: None }
    }

    /// The closing line: how many models, how long, which one was exported.
    pub fn finish(self, summary: &str) {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(style("{msg}"));
        let bar = self.multi.add(bar);
        bar.finish_with_message(format!("{summary} in {:.1}s", self.started.elapsed().as_secs_f64()));
    }
}

/// One model's line; it hears the trainer's epochs through [`TrainObserver`].
#[derive(Debug)]
pub struct ModelBar {
    bar: ProgressBar,
    metric: &'static str,
    last: Option<EpochStats>,
}

impl ModelBar {
    /// Leave the line with the model's result, e.g. `validation roc_auc 0.9132`.
    pub fn done(self, result: &str) {
        self.bar.set_style(style("✓ {prefix} {msg} [{elapsed}]"));
        let epochs = self.last.map(|e| format!("{} epochs, ", e.epoch)).unwrap_or_default();
        self.bar.finish_with_message(format!("{epochs}{result}"));
    }

    /// Leave the line marked as failed.
    pub fn failed(self) {
        self.bar.set_style(style("✗ {prefix} {msg} [{elapsed}]"));
        self.bar.abandon_with_message("failed");
    }

    /// Mark a model that an earlier attempt of the run already trained.
    pub fn reused(&self) {
        self.bar.set_message("trained before the interruption, loaded");
    }
}

impl TrainObserver for ModelBar {
    fn start(&mut self, epochs: usize, done: usize) {
        self.bar.set_style(style("{spinner} {prefix} [{bar:20}] epoch {pos}/{len} {msg} ETA {eta} [{elapsed}]"));
        self.bar.set_length(epochs as u64);
        self.bar.set_position(done as u64);
        self.bar.reset_eta();
        self.bar.set_message(if done > 0 { "resumed".to_string() } else { String::new() });
    }

    fn epoch(&mut self, stats: &EpochStats) -> ControlFlow<()> {
        self.bar.set_position(stats.epoch as u64);
        self.bar.set_message(format!(
            "loss {:.4} {} {:.4} {:.0} samples/s",
            stats.train_loss, self.metric, stats.valid_metric, stats.samples_per_sec
        ));
        self.last = Some(stats.clone());
        ControlFlow::Continue(())
    }
}

impl kiln_pipeline::progress::Progress for Progress {
    fn step(&self, message: String) -> Box<dyn kiln_pipeline::progress::Step> {
        Box::new(Progress::step(self, message))
    }

    fn training(&self) -> Box<dyn kiln_pipeline::progress::Training> {
        Box::new(self.board())
    }
}

impl kiln_pipeline::progress::Step for Step {
    fn message(&self, message: String) {
        self.set_message(message);
    }

    fn done(self: Box<Self>) {
        Step::done(*self);
    }
}

impl kiln_pipeline::progress::Training for Board {
    fn model(&self, name: &str, kind: &str, task: Task) -> Box<dyn kiln_pipeline::progress::ModelProgress> {
        Box::new(Board::model(self, name, kind, task))
    }

    fn finish(self: Box<Self>, summary: &str) {
        Board::finish(*self, summary);
    }
}

impl kiln_pipeline::progress::ModelProgress for ModelBar {
    fn reused(&mut self) {
        ModelBar::reused(self);
    }

    fn done(self: Box<Self>, result: &str) {
        ModelBar::done(*self, result);
    }

    fn failed(self: Box<Self>) {
        ModelBar::failed(*self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_line_follows_the_epochs_and_a_quiet_board_shows_nothing() {
        let board = Progress::new(true).board();
        let mut line = board.model("mlp", "mlp", Task::Binary);
        line.start(10, 3);
        assert_eq!((line.bar.position(), line.bar.length()), (3, Some(10)), "resumed at epoch 3 of 10");
        let stats = EpochStats { epoch: 4, train_loss: 0.5, valid_metric: 0.75, samples_per_sec: 1000.0, seconds: 0.1 };
        assert!(line.epoch(&stats).is_continue());
        assert_eq!(line.bar.position(), 4);
        assert_eq!(line.bar.message(), "loss 0.5000 valid auc 0.7500 1000 samples/s");
        assert!(line.bar.is_hidden());
        line.done("validation roc_auc 0.7500");
        board.finish("trained 1 model(s), exporting mlp");
    }
}
