//! The breaker's state machine driven with explicit times: each trigger, the window's
//! minimum, half-open probes, an operator's reset.

use super::*;

fn settings() -> BreakerSettings {
    BreakerSettings { window: 10, min_requests: 4, open_seconds: 5.0, probes: 3, ..BreakerSettings::default() }
}

fn ok(latency_ms: f64) -> Outcome {
    Outcome { latency_ms, rows: 1, ..Outcome::default() }
}

/// Record `outcomes` as closed-state requests; the last transition.
fn feed(breaker: &Breaker, now: Instant, outcomes: &[Outcome]) -> Option<Transition> {
    let mut last = None;
    for o in outcomes {
        let (admit, _) = breaker.admit(now);
        assert_eq!(admit, Admit::Model);
        last = breaker.record(admit, *o, now).or(last);
    }
    last
}

#[test]
fn errors_above_the_rate_open_it_once_the_window_holds_min_requests() {
    let breaker = Breaker::new(settings(), None);
    let t0 = Instant::now();
    let error = Outcome { error: true, ..Outcome::default() };
    // 3 errors out of 3: below min_requests, no judgement yet
    assert_eq!(feed(&breaker, t0, &[error, error, error]), None);
    let t = feed(&breaker, t0, &[error]).expect("opens");
    assert_eq!((t.from, t.to, t.trigger), (StateKind::Closed, StateKind::Open, Some(Trigger::ErrorRate)));
    assert_eq!(t.value, 1.0);
    assert_eq!(breaker.admit(t0 + Duration::from_secs(1)).0, Admit::Fallback);
}

#[test]
fn an_error_rate_at_the_limit_keeps_it_closed() {
    // max_error_rate 0.5: 2 errors in 4 is not above it
    let breaker = Breaker::new(settings(), None);
    let error = Outcome { error: true, ..Outcome::default() };
    assert_eq!(feed(&breaker, Instant::now(), &[ok(1.0), error, ok(1.0), error]), None);
    assert_eq!(breaker.state(), StateKind::Closed);
}

#[test]
fn latency_opens_on_the_nearest_rank_p95_over_the_budget() {
    let breaker = Breaker::new(settings(), Some(10.0));
    let t0 = Instant::now();
    // 10 samples: the nearest-rank p95 is the 10th smallest (ceil(0.95 * 10)), the largest
    let mut outcomes: Vec<Outcome> = (0..9).map(|_| ok(5.0)).collect();
    assert_eq!(feed(&breaker, t0, &outcomes), None);
    outcomes = vec![ok(11.0)];
    let t = feed(&breaker, t0, &outcomes).expect("opens");
    assert_eq!(t.trigger, Some(Trigger::Latency));
    assert_eq!(t.value, 11.0);
}

#[test]
fn one_non_finite_row_opens_it_at_once() {
    let breaker = Breaker::new(settings(), None);
    let nan = Outcome { non_finite: 1, ..Outcome::default() };
    assert_eq!(feed(&breaker, Instant::now(), &[ok(1.0)]), None);
    // fewer than min_requests: a model that gives NaN is broken, whatever the count
    assert_eq!(feed(&breaker, Instant::now(), &[nan]).and_then(|t| t.trigger), Some(Trigger::NonFinite));
}

#[test]
fn unusual_inputs_open_it_above_their_share_of_rows() {
    let breaker = Breaker::new(settings(), None);
    let rows = |rows, unusual_rows| Outcome { rows, unusual_rows, ..Outcome::default() };
    // a large request with a few unusual rows weighs as its rows: 2 + 1 of 4 + 100 + 4 + 4
    // rows is far from half
    assert_eq!(feed(&breaker, Instant::now(), &[rows(4, 2), rows(100, 1), rows(4, 0), rows(4, 0)]), None);
    // 3 + 60 = 63 of 112 + 4 = 116 rows (0.543) is above the default 0.5
    let t = feed(&breaker, Instant::now(), &[rows(4, 60)]).expect("opens");
    assert_eq!(t.trigger, Some(Trigger::UnusualInputs));
    assert_eq!(t.value, 63.0 / 116.0);
}

#[test]
fn half_open_probes_close_it_when_they_pass_and_reopen_it_when_one_fails() {
    let breaker = Breaker::new(settings(), None);
    let t0 = Instant::now();
    let error = Outcome { error: true, ..Outcome::default() };
    feed(&breaker, t0, &[error; 4]).expect("opens");
    assert_eq!(breaker.admit(t0 + Duration::from_millis(4_999)).0, Admit::Fallback);
    let later = t0 + Duration::from_secs(5);
    let (admit, t) = breaker.admit(later);
    assert_eq!((admit, t.map(|t| t.to)), (Admit::Probe, Some(StateKind::HalfOpen)));
    // three probes in all; the fourth request goes to the fallback while they are out
    assert_eq!(breaker.admit(later).0, Admit::Probe);
    assert_eq!(breaker.admit(later).0, Admit::Probe);
    assert_eq!(breaker.admit(later).0, Admit::Fallback);
    assert_eq!(breaker.record(Admit::Probe, ok(1.0), later), None);
    let t = breaker.record(Admit::Probe, error, later).expect("reopens");
    assert_eq!((t.from, t.to, t.trigger), (StateKind::HalfOpen, StateKind::Open, Some(Trigger::Probes)));
    // open again for open_seconds, then probes that pass close it
    let again = later + Duration::from_secs(5);
    for _ in 0..3 {
        assert_eq!(breaker.admit(again).0, Admit::Probe);
    }
    assert_eq!(breaker.record(Admit::Probe, ok(1.0), again), None);
    assert_eq!(breaker.record(Admit::Probe, ok(1.0), again), None);
    let t = breaker.record(Admit::Probe, ok(1.0), again).expect("closes");
    assert_eq!((t.from, t.to), (StateKind::HalfOpen, StateKind::Closed));
    assert_eq!(breaker.admit(again).0, Admit::Model);
}

#[test]
fn a_disabled_breaker_never_opens_and_an_operator_can_force_it() {
    let off = Breaker::new(BreakerSettings { enabled: false, ..settings() }, None);
    let error = Outcome { error: true, ..Outcome::default() };
    assert_eq!(feed(&off, Instant::now(), &[error; 20]), None);
    let breaker = Breaker::new(settings(), None);
    let now = Instant::now();
    let t = breaker.force(true, now).expect("opened");
    assert_eq!(t.trigger, Some(Trigger::Manual));
    assert_eq!(breaker.admit(now).0, Admit::Fallback);
    assert_eq!(breaker.force(false, now).map(|t| t.to), Some(StateKind::Closed));
    assert_eq!(breaker.force(false, now), None);
}

#[test]
fn p95_is_the_nearest_rank() {
    assert_eq!(p95(vec![]), 0.0);
    assert_eq!(p95(vec![3.0]), 3.0);
    // 1..=100: rank ceil(95) = 95
    assert_eq!(p95((1..=100).rev().map(f64::from).collect()), 95.0);
    // 1..=10: rank ceil(9.5) = 10
    assert_eq!(p95((1..=10).map(f64::from).collect()), 10.0);
}

#[test]
fn probes_that_never_come_back_are_sent_again_after_open_seconds() {
    let breaker = Breaker::new(settings(), None);
    let t0 = Instant::now();
    breaker.force(true, t0).expect("opened");
    let later = t0 + Duration::from_secs(5);
    for _ in 0..3 {
        assert_eq!(breaker.admit(later).0, Admit::Probe);
    }
    // none recorded (refused before scoring, say): the fallback answers until the round is
    // over, then a new round of probes starts
    assert_eq!(breaker.admit(later + Duration::from_millis(4_999)).0, Admit::Fallback);
    let again = later + Duration::from_secs(5);
    assert_eq!(breaker.admit(again).0, Admit::Probe);
    assert_eq!(breaker.record(Admit::Probe, ok(1.0), again), None);
    assert_eq!(breaker.admit(again).0, Admit::Probe);
    assert_eq!(breaker.admit(again).0, Admit::Probe);
    assert_eq!(breaker.record(Admit::Probe, ok(1.0), again), None);
    assert_eq!(breaker.record(Admit::Probe, ok(1.0), again).map(|t| t.to), Some(StateKind::Closed));
}

#[test]
fn input_drift_opens_it_when_the_drifted_share_reaches_the_limit() {
    let drift = BreakerSettings { input_drift_share: Some(0.5), ..settings() };
    let breaker = Breaker::new(drift, None);
    let t0 = Instant::now();
    let drifted = |share: Option<f64>| Outcome { rows: 1, drifted_share: share, ..Outcome::default() };
    // no verdict yet (too few rows in the drift window), then a share below the limit
    assert_eq!(feed(&breaker, t0, &[drifted(None), drifted(Some(0.25)), drifted(Some(0.49))]), None);
    // the drift window has its own minimum of rows: the breaker's min_requests (4) is not waited for
    let t = feed(&breaker, t0, &[drifted(Some(0.5))]).expect("opens");
    assert_eq!(
        (t.from, t.to, t.trigger, t.value),
        (StateKind::Closed, StateKind::Open, Some(Trigger::InputDrift), 0.5)
    );
    // half-open probes that still see the drift open it again
    let later = t0 + Duration::from_secs(5);
    assert_eq!(breaker.admit(later).0, Admit::Probe);
    for _ in 0..2 {
        assert_eq!(breaker.admit(later).0, Admit::Probe);
    }
    assert_eq!(breaker.record(Admit::Probe, drifted(Some(0.75)), later), None);
    assert_eq!(breaker.record(Admit::Probe, drifted(Some(0.75)), later), None);
    let t = breaker.record(Admit::Probe, drifted(Some(0.75)), later).expect("reopens");
    assert_eq!((t.to, t.trigger), (StateKind::Open, Some(Trigger::Probes)));
    // off by default: the same shares never open it
    let off = Breaker::new(settings(), None);
    assert_eq!(feed(&off, t0, &[drifted(Some(1.0)); 8]), None);
}
