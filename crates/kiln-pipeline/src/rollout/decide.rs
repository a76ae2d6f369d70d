//! What a rollout does next, decided from the figures of its current step alone (no I/O):
//! a failed check rolls it back at once; a step that reached its minimums with every check
//! passed moves on (shadow to the first canary share, one canary share to the next, the last
//! to promotion); a step past its timeout without its minimums fails; anything else waits.

use kiln_track::{Rollout, RolloutPhase};
use serde::Serialize;

use super::RolloutPlan;
use super::gather::StepFigures;

/// The next move of a rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The step has not reached its minimums yet.
    Wait { reason: String },
    /// Move to canary step `step` with `share` of the traffic.
    Advance { step: i64, share: f64, reason: String },
    /// The last step passed: the challenger becomes the champion.
    Promote { reason: String },
    /// A check failed: the champion serves on alone.
    RollBack { reason: String },
}

impl Decision {
    pub fn reason(&self) -> &str {
        match self {
            Decision::Wait { reason }
            | Decision::Advance { reason, .. }
            | Decision::Promote { reason }
            | Decision::RollBack { reason } => reason,
        }
    }
}

/// The decision for `rollout` (active) given the figures of its current step at `now_ms`.
pub fn decide(plan: &RolloutPlan, rollout: &Rollout, figures: &StepFigures, now_ms: i64) -> Decision {
    let (phase_name, min_requests) = match rollout.phase {
        RolloutPhase::Canary => {
            (format!("canary step {} ({} %)", rollout.step, rollout.share * 100.0), plan.min_requests)
        }
        _ => ("shadow".to_owned(), plan.shadow_requests),
    };
    if let Some(reason) = failed_check(plan, figures, min_requests) {
        return Decision::RollBack { reason: format!("{phase_name}: {reason}") };
    }
    let challenger = &figures.challenger;
    let enough_requests = challenger.requests >= min_requests;
    let enough_labels = challenger.labelled >= plan.min_labels;
    let progress = format!(
        "{} of {min_requests} requests, {} of {} labels",
        challenger.requests, challenger.labelled, plan.min_labels
    );
    if !(enough_requests && enough_labels) {
        if now_ms - rollout.step_started_ms > plan.step_timeout_ms {
            let waited = plan.step_timeout_ms / 1000;
            return Decision::RollBack {
                reason: format!("{phase_name} did not reach its minimums within {waited} s: {progress}"),
            };
        }
        return Decision::Wait { reason: format!("{phase_name}: {progress}") };
    }
    let passed = format!("{phase_name} passed: {}", summary(figures));
    let next = match rollout.phase {
        RolloutPhase::Canary => usize::try_from(rollout.step).unwrap_or(usize::MAX),
        _ => 0,
    };
    match plan.steps.get(next) {
        Some(share) => Decision::Advance { step: next as i64 + 1, share: share / 100.0, reason: passed },
        None => Decision::Promote { reason: passed },
    }
}

/// The first live check that failed: breaker, error rate, latency, metric.
fn failed_check(plan: &RolloutPlan, figures: &StepFigures, min_requests: u64) -> Option<String> {
    let challenger = &figures.challenger;
    if figures.breaker_opened {
        return Some(format!(
            "the challenger's breaker opened ({} of {} calls failed)",
            challenger.failed, challenger.requests
        ));
    }
    if let Some(rate) = figures.error_rate {
        // judged at the step's minimum, or before it once the failures exceed what the
        // minimum allows
        let over_budget = challenger.failed as f64 > plan.max_error_rate * min_requests as f64;
        if rate > plan.max_error_rate && (challenger.requests >= min_requests || over_budget) {
            return Some(format!(
                "error rate {rate:.4} ({} of {} calls failed) is above {}",
                challenger.failed, challenger.requests, plan.max_error_rate
            ));
        }
    }
    if challenger.requests < min_requests {
        return None;
    }
    if let Some(ratio) = figures.latency_ratio.filter(|r| *r > plan.max_latency_ratio) {
        return Some(format!(
            "p95 latency {:.2} ms is {ratio:.2} times the champion's {:.2} ms (at most {})",
            challenger.latency_p95_ms.unwrap_or(f64::NAN),
            figures.champion.latency_p95_ms.unwrap_or(f64::NAN),
            plan.max_latency_ratio
        ));
    }
    if let Some(drop) = figures.metric_drop.filter(|d| *d > plan.max_metric_drop) {
        return Some(format!(
            "{} {} {:.4} is {drop:.4} below the champion's {:.4} (at most {})",
            source_name(figures),
            figures.metric,
            challenger.metric.unwrap_or(f64::NAN),
            figures.champion.metric.unwrap_or(f64::NAN),
            plan.max_metric_drop
        ));
    }
    None
}

fn source_name(figures: &StepFigures) -> &'static str {
    match figures.metric_source {
        super::MetricSource::Realised => "realised",
        super::MetricSource::Estimated => "estimated",
        super::MetricSource::Unavailable => "no",
    }
}

/// The figures in a line, for the audit reason.
fn summary(figures: &StepFigures) -> String {
    let c = &figures.challenger;
    let mut parts = vec![format!("{} calls, {} failed", c.requests, c.failed)];
    if let Some(ratio) = figures.latency_ratio {
        parts.push(format!("p95 latency ratio {ratio:.2}"));
    }
    match (figures.metric_drop, c.metric) {
        (Some(drop), Some(value)) => {
            parts.push(format!("{} {} {value:.4} (drop {drop:.4})", source_name(figures), figures.metric));
        }
        _ => parts.push(format!("{} not compared", figures.metric)),
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::rollout::{MetricSource, RolloutConfig, VersionFigures};

    fn plan() -> RolloutPlan {
        let config = RolloutConfig {
            shadow_requests: 100,
            steps: vec![10.0, 50.0],
            min_requests: 200,
            min_labels: 0,
            step_timeout: "10m".into(),
            ..RolloutConfig::default()
        };
        config.plan().expect("plan")
    }

    fn rollout(phase: RolloutPhase, step: i64, share: f64) -> Rollout {
        Rollout {
            id: 1,
            name: "adult".into(),
            champion_version: 1,
            challenger_version: 2,
            phase,
            step,
            share,
            step_started_ms: 1_000_000,
            started_ms: 0,
            ended_ms: None,
            reason: None,
            plan: serde_json::Value::Null,
            figures: serde_json::Value::Null,
        }
    }

    /// Figures of a healthy step: `requests` calls, none failed, latency equal, metric equal.
    fn healthy(phase: RolloutPhase, requests: u64) -> StepFigures {
        let version = |v: i64| VersionFigures {
            version: v,
            requests: if v == 2 { requests } else { 0 },
            failed: 0,
            rows: requests,
            labelled: 0,
            latency_p95_ms: Some(4.0),
            metric: Some(0.90),
        };
        StepFigures {
            phase,
            step: 0,
            elapsed_ms: 0,
            champion: version(1),
            challenger: version(2),
            error_rate: Some(0.0),
            latency_ratio: Some(1.0),
            metric: "roc_auc".into(),
            metric_source: MetricSource::Estimated,
            metric_drop: Some(0.0),
            breaker_opened: false,
            counters: BTreeMap::new(),
        }
    }

    const NOW: i64 = 1_000_000 + 60_000;

    #[test]
    fn a_healthy_rollout_walks_shadow_then_each_step_then_promotes() {
        let plan = plan();
        let shadow = decide(&plan, &rollout(RolloutPhase::Shadow, 0, 0.0), &healthy(RolloutPhase::Shadow, 100), NOW);
        assert!(matches!(shadow, Decision::Advance { step: 1, share, .. } if share == 0.1), "{shadow:?}");
        let first = decide(&plan, &rollout(RolloutPhase::Canary, 1, 0.1), &healthy(RolloutPhase::Canary, 200), NOW);
        assert!(matches!(first, Decision::Advance { step: 2, share, .. } if share == 0.5), "{first:?}");
        let last = decide(&plan, &rollout(RolloutPhase::Canary, 2, 0.5), &healthy(RolloutPhase::Canary, 250), NOW);
        assert!(matches!(last, Decision::Promote { .. }), "{last:?}");
        assert!(last.reason().contains("250 calls, 0 failed"), "{}", last.reason());
    }

    #[test]
    fn a_step_waits_for_its_minimums_then_times_out() {
        let plan = plan();
        let canary = rollout(RolloutPhase::Canary, 1, 0.1);
        let early = decide(&plan, &canary, &healthy(RolloutPhase::Canary, 199), NOW);
        assert_eq!(early, Decision::Wait { reason: "canary step 1 (10 %): 199 of 200 requests, 0 of 0 labels".into() });
        let late = decide(&plan, &canary, &healthy(RolloutPhase::Canary, 199), 1_000_000 + 600_001);
        assert!(matches!(&late, Decision::RollBack { reason } if reason.contains("within 600 s")), "{late:?}");
        // labels are a minimum too
        let labelled = RolloutPlan { min_labels: 30, ..plan };
        let mut figures = healthy(RolloutPhase::Canary, 300);
        figures.challenger.labelled = 29;
        assert!(matches!(decide(&labelled, &canary, &figures, NOW), Decision::Wait { .. }));
        figures.challenger.labelled = 30;
        assert!(matches!(decide(&labelled, &canary, &figures, NOW), Decision::Advance { step: 2, .. }));
    }

    #[test]
    fn each_failed_check_rolls_back() {
        let plan = plan();
        let canary = rollout(RolloutPhase::Canary, 1, 0.1);
        let mut breaker = healthy(RolloutPhase::Canary, 20);
        breaker.breaker_opened = true;
        // latency 2.5 times the champion's: above 2.0
        let mut slow = healthy(RolloutPhase::Canary, 200);
        slow.latency_ratio = Some(2.5);
        // roc_auc 0.03 below the champion's: above the 0.02 allowed
        let mut worse = healthy(RolloutPhase::Canary, 200);
        worse.metric_drop = Some(0.03);
        // 5 of 200 failed: 0.025 > 0.02
        let mut failing = healthy(RolloutPhase::Canary, 200);
        (failing.challenger.failed, failing.error_rate) = (5, Some(0.025));
        for (figures, words) in [
            (breaker, "breaker opened"),
            (slow, "2.50 times"),
            (worse, "estimated roc_auc"),
            (failing, "error rate 0.0250"),
        ] {
            let decision = decide(&plan, &canary, &figures, NOW);
            assert!(
                matches!(&decision, Decision::RollBack { reason } if reason.contains(words)),
                "{words}: {decision:?}"
            );
        }
    }

    #[test]
    fn errors_are_judged_early_only_past_the_steps_budget() {
        let plan = plan();
        let canary = rollout(RolloutPhase::Canary, 1, 0.1);
        // 4 of 20 failed: a rate of 0.2, but 4 failures fit the budget of 0.02 × 200
        let mut some = healthy(RolloutPhase::Canary, 20);
        (some.challenger.failed, some.error_rate) = (4, Some(0.2));
        assert!(matches!(decide(&plan, &canary, &some, NOW), Decision::Wait { .. }));
        // 5 failures are past it: no number of good calls can bring the step under the limit
        (some.challenger.failed, some.error_rate) = (5, Some(0.25));
        assert!(matches!(decide(&plan, &canary, &some, NOW), Decision::RollBack { .. }));
        // exactly at the limit passes
        let mut at_limit = healthy(RolloutPhase::Canary, 200);
        (at_limit.challenger.failed, at_limit.error_rate) = (4, Some(0.02));
        assert!(matches!(decide(&plan, &canary, &at_limit, NOW), Decision::Advance { .. }));
    }

    #[test]
    fn latency_and_metric_are_judged_only_at_the_minimum() {
        let plan = plan();
        let mut slow = healthy(RolloutPhase::Shadow, 50);
        slow.latency_ratio = Some(9.0);
        slow.metric_drop = Some(0.5);
        let decision = decide(&plan, &rollout(RolloutPhase::Shadow, 0, 0.0), &slow, NOW);
        assert_eq!(decision, Decision::Wait { reason: "shadow: 50 of 100 requests, 0 of 0 labels".into() });
    }
}
