//! A rollout against the store: start one (its plan recorded), evaluate its current step once
//! and apply the decision as a compare-and-set move, or abort it. A controller that dies
//! leaves the rollout at its last recorded phase and step; the next evaluation goes on from
//! there, counting the servers' counters from the base recorded with the last move. Fault
//! drills (`KILN_FAILPOINT`) can kill it at `rollout-started` (after the start is recorded),
//! `rollout-decided` (figures gathered, nothing moved yet) and `rollout-moved` (the move
//! committed, nothing reported yet).

use std::path::{Path, PathBuf};

use kiln_core::bundle::{Bundle, Manifest};
use kiln_track::{NewRollout, Rollout, RolloutMove, RolloutPhase, Store};
use serde::Serialize;

use super::RolloutPlan;
use super::decide::{Decision, decide};
use super::gather::{Sources, StepFigures, gather};
use super::scrape::Scrape;
use crate::error::{Error, Result};

/// The alias a rollout takes its challenger from when no version is given.
pub const CHALLENGER_ALIAS: &str = "challenger";

/// Start a rollout of `version` (default: the version alias `challenger` points at) of model
/// `name` in shadow, with `plan` recorded. `force` (a reason) starts a version whose
/// acceptance verdict did not pass.
pub fn start(
    store: &Store,
    name: &str,
    version: Option<i64>,
    plan: &RolloutPlan,
    actor: &str,
    force: Option<&str>,
) -> Result<Rollout> {
    let challenger_version = match version {
        Some(version) => version,
        None => store.resolve_alias(name, CHALLENGER_ALIAS)?.version,
    };
    let plan = serde_json::to_value(plan).expect("a plan of numbers and names is JSON");
    let rollout = store.start_rollout(&NewRollout { name, challenger_version, plan, actor, force })?;
    crate::failpoint::hit("rollout-started");
    Ok(rollout)
}

/// What one evaluation reads.
#[derive(Debug, Clone, Copy)]
pub struct StepInputs<'a> {
    /// The model (registry name, also its name in the log and the servers' metrics).
    pub name: &'a str,
    /// The plan of the config given now; it must be the recorded one. None: the recorded.
    pub plan: Option<&'a RolloutPlan>,
    pub log_dir: &'a Path,
    /// Each server's `/metrics` text.
    pub scrapes: &'a [Scrape],
    pub actor: &'a str,
    pub now_ms: i64,
}

/// One evaluation of an active rollout.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The rollout after the decision was applied.
    pub rollout: Rollout,
    pub decision: Decision,
    pub figures: StepFigures,
}

/// What an evaluation found.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Evaluated {
    /// No rollout of the model is active: the latest one, ended.
    Ended { rollout: Rollout },
    /// The active rollout was evaluated.
    Stepped(Box<StepReport>),
}

/// Evaluate the model's active rollout once and apply the decision.
pub fn step(store: &Store, inputs: &StepInputs<'_>) -> Result<Evaluated> {
    let Some(rollout) = store.active_rollout(inputs.name)? else {
        return latest(store, inputs.name).map(|rollout| Evaluated::Ended { rollout });
    };
    let plan = recorded_plan(&rollout)?;
    if let Some(given) = inputs.plan
        && *given != plan
    {
        let recorded = serde_json::to_string(&rollout.plan).unwrap_or_default();
        return Err(Error::PlanChanged { id: rollout.id, name: rollout.name.clone(), recorded });
    }
    let champion = manifest(store, inputs.name, rollout.champion_version)?;
    let challenger = manifest(store, inputs.name, rollout.challenger_version)?;
    let sources = Sources {
        model: inputs.name,
        log_dir: inputs.log_dir,
        scrapes: inputs.scrapes,
        champion: &champion,
        challenger: &challenger,
        now_ms: inputs.now_ms,
    };
    let figures = gather(&rollout, &plan, &sources)?;
    let decision = decide(&plan, &rollout, &figures, inputs.now_ms);
    tracing::debug!(rollout = rollout.id, ?decision, "rollout evaluated");
    let mut recorded = serde_json::to_value(&figures).unwrap_or_default();
    if rollout.phase == RolloutPhase::Shadow {
        // the canary is a new route: each server counts it from zero
        recorded["counters"] = serde_json::json!({});
    }
    let to = |to_phase, step, share, reason| Move {
        rollout: &rollout,
        to_phase,
        step,
        share,
        reason,
        figures: &recorded,
        actor: inputs.actor,
    };
    crate::failpoint::hit("rollout-decided");
    let after = match &decision {
        Decision::Wait { .. } => rollout.clone(),
        Decision::Advance { step, share, reason } => {
            store.advance_rollout(&to(RolloutPhase::Canary, *step, *share, reason).change())?
        }
        Decision::Promote { reason } => store.finish_rollout(&to(RolloutPhase::Promoted, 0, 1.0, reason).change())?,
        Decision::RollBack { reason } => {
            store.finish_rollout(&to(RolloutPhase::RolledBack, 0, 0.0, reason).change())?
        }
    };
    if !matches!(decision, Decision::Wait { .. }) {
        crate::failpoint::hit("rollout-moved");
    }
    Ok(Evaluated::Stepped(Box::new(StepReport { rollout: after, decision, figures })))
}

/// A move of `rollout` from where it was read.
struct Move<'a> {
    rollout: &'a Rollout,
    to_phase: RolloutPhase,
    step: i64,
    share: f64,
    reason: &'a str,
    figures: &'a serde_json::Value,
    actor: &'a str,
}

impl<'a> Move<'a> {
    fn change(&self) -> RolloutMove<'a> {
        RolloutMove {
            id: self.rollout.id,
            from_phase: self.rollout.phase,
            from_step: self.rollout.step,
            to_phase: self.to_phase,
            step: self.step,
            share: self.share,
            reason: self.reason,
            figures: self.figures.clone(),
            actor: self.actor,
        }
    }
}

/// Abort the model's active rollout: the champion serves on alone.
pub fn abort(store: &Store, name: &str, reason: &str, actor: &str) -> Result<Rollout> {
    let rollout = store.active_rollout(name)?.ok_or_else(|| Error::NoRollout { name: name.into(), what: "active" })?;
    let change = RolloutMove {
        id: rollout.id,
        from_phase: rollout.phase,
        from_step: rollout.step,
        to_phase: RolloutPhase::Aborted,
        step: rollout.step,
        share: 0.0,
        reason,
        figures: serde_json::json!({ "aborted_by": actor }),
        actor,
    };
    Ok(store.finish_rollout(&change)?)
}

/// The model's latest rollout.
pub fn latest(store: &Store, name: &str) -> Result<Rollout> {
    store.rollouts(name)?.pop().ok_or_else(|| Error::NoRollout { name: name.into(), what: "recorded" })
}

/// The plan a rollout was started with.
pub fn recorded_plan(rollout: &Rollout) -> Result<RolloutPlan> {
    serde_json::from_value(rollout.plan.clone())
        .map_err(|e| Error::RecordedPlan { id: rollout.id, problem: e.to_string() })
}

/// The manifest of a registered version's bundle.
fn manifest(store: &Store, name: &str, version: i64) -> Result<Manifest> {
    let recorded = store.model_version(name, version)?.bundle_path;
    Ok(Bundle::read(&bundle_path(store.path(), &recorded))?.manifest)
}

/// A bundle path as the registry recorded it: relative paths are relative to the project
/// folder (the one holding `.kiln/`) when they do not exist from the current folder.
pub fn bundle_path(store: &Path, recorded: &str) -> PathBuf {
    let path = PathBuf::from(recorded);
    if path.is_absolute() || path.exists() {
        return path;
    }
    store.parent().and_then(Path::parent).unwrap_or(Path::new(".")).join(path)
}
