//! How the stages report progress: a trait the caller implements (the CLI draws bars with it),
//! and [`Silent`], which shows nothing. The pipeline itself never draws or prints.

use kiln_core::schema::Task;
use kiln_train::nn::TrainObserver;

/// Receives the progress of the stages.
pub trait Progress {
    /// A long step begins (reading a file, evaluating); finish it with [`Step::done`].
    fn step(&self, message: String) -> Box<dyn Step>;
    /// Training begins: one line per model follows.
    fn training(&self) -> Box<dyn Training>;
}

/// One running step.
pub trait Step {
    /// Replace the step's message.
    fn message(&self, message: String);
    /// The step is over.
    fn done(self: Box<Self>);
}

/// The models of one training stage.
pub trait Training {
    /// Model `name` of `kind` starts training; it hears the trainer's epochs.
    fn model(&self, name: &str, kind: &str, task: Task) -> Box<dyn ModelProgress>;
    /// Every model is trained; `summary` says how many.
    fn finish(self: Box<Self>, summary: &str);
}

/// One model's training, which hears its epochs through [`TrainObserver`].
pub trait ModelProgress: TrainObserver {
    /// The model was trained by an earlier attempt of the run and is reloaded.
    fn reused(&mut self);
    /// The model is trained; `result` is its validation score, e.g. `validation roc_auc 0.9132`.
    fn done(self: Box<Self>, result: &str);
    /// Training the model failed.
    fn failed(self: Box<Self>);
}

/// Progress that goes nowhere (tests, and callers without a display).
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn step(&self, _message: String) -> Box<dyn Step> {
        Box::new(Silent)
    }

    fn training(&self) -> Box<dyn Training> {
        Box::new(Silent)
    }
}

impl Step for Silent {
    fn message(&self, _message: String) {}

    fn done(self: Box<Self>) {}
}

impl Training for Silent {
    fn model(&self, _name: &str, _kind: &str, _task: Task) -> Box<dyn ModelProgress> {
        Box::new(Silent)
    }

    fn finish(self: Box<Self>, _summary: &str) {}
}

impl TrainObserver for Silent {
    fn epoch(&mut self, _stats: &kiln_train::nn::EpochStats) -> std::ops::ControlFlow<()> {
        std::ops::ControlFlow::Continue(())
    }
}

impl ModelProgress for Silent {
    fn reused(&mut self) {}

    fn done(self: Box<Self>, _result: &str) {}

    fn failed(self: Box<Self>) {}
}
