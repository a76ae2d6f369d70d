//! The samples of a Prometheus text exposition (what kiln-serve answers on `/metrics`), and
//! the counters of a rollout's challenger read from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The `/metrics` text of one server, as the caller fetched it.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The server's base URL (it names the server in the figures and in errors).
    pub server: String,
    pub text: String,
}

/// Every sample of `text` (comments and blank lines skipped).
pub fn samples(server: &str, text: &str) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |problem: &str| Error::Metrics { server: server.into(), line: index + 1, problem: problem.into() };
        let (series, value) = line.rsplit_once(' ').ok_or_else(|| bad("a sample has a name and a value"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| bad("the value is not a number"))?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').ok_or_else(|| bad("the labels are not closed by `}`"))?;
                (name, labels(body).ok_or_else(|| bad("the labels are not `key=\"value\"` pairs"))?)
            }
            None => (series, BTreeMap::new()),
        };
        out.push(Sample { name: name.to_owned(), labels, value });
    }
    Ok(out)
}

/// `a="x",b="y\"z"` as a map; none when malformed.
fn labels(body: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        out.insert(key.trim().to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',').trim();
    }
    Some(out)
}

/// A challenger's counters on one server, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Scoring calls that succeeded, on the route of the phase.
    pub ok: f64,
    /// Scoring calls that failed or gave non-finite outputs.
    pub failed: f64,
    /// Times its breaker opened.
    pub breaker_opens: f64,
    /// Whether its breaker is not closed now.
    pub breaker_open_now: bool,
}

/// The counters of `model` version `version` on `route` (`shadow` or `canary`) in `samples`.
/// The challenger's source is `NAME@vN`, as kiln-serve names the rollout's route.
pub fn challenger_counters(samples: &[Sample], model: &str, version: i64, route: &str) -> Counters {
    let source = format!("{model}@v{version}");
    let version = version.to_string();
    let is = |s: &Sample, key: &str, value: &str| s.labels.get(key).is_some_and(|v| v == value);
    let mut counters = Counters::default();
    for s in samples.iter().filter(|s| is(s, "model", model)) {
        match s.name.as_str() {
            "kiln_serve_route_outcomes_total"
                if is(s, "source", &source) && is(s, "version", &version) && is(s, "route", route) =>
            {
                if is(s, "outcome", "ok") {
                    counters.ok += s.value;
                } else {
                    counters.failed += s.value;
                }
            }
            "kiln_serve_breaker_transitions_total" if is(s, "source", &source) && is(s, "to", "open") => {
                counters.breaker_opens += s.value;
            }
            "kiln_serve_breaker_state" if is(s, "source", &source) => counters.breaker_open_now |= s.value != 0.0,
            _ => {}
        }
    }
    counters
}

/// The counts since `base` was read: a counter below its base was reset by a restart of the
/// server, so all of it is new.
pub fn since(now: Counters, base: Option<Counters>) -> Counters {
    let Some(base) = base else { return now };
    let delta = |now: f64, base: f64| if now >= base { now - base } else { now };
    Counters {
        ok: delta(now.ok, base.ok),
        failed: delta(now.failed, base.failed),
        breaker_opens: delta(now.breaker_opens, base.breaker_opens),
        breaker_open_now: now.breaker_open_now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP kiln_serve_route_outcomes Scoring calls per route
# TYPE kiln_serve_route_outcomes counter
kiln_serve_route_outcomes_total{model="adult",source="adult@v2",version="2",route="canary",outcome="ok"} 40
kiln_serve_route_outcomes_total{model="adult",source="adult@v2",version="2",route="canary",outcome="failed"} 3
kiln_serve_route_outcomes_total{model="adult",source="adult@v2",version="2",route="shadow",outcome="ok"} 200
kiln_serve_route_outcomes_total{model="adult",source="adult@champion",version="1",route="primary",outcome="ok"} 900
kiln_serve_route_outcomes_total{model="other",source="adult@v2",version="2",route="canary",outcome="ok"} 7
kiln_serve_breaker_transitions_total{model="adult",source="adult@v2",to="open",trigger="error_rate"} 1
kiln_serve_breaker_transitions_total{model="adult",source="adult@v2",to="closed",trigger=""} 1
kiln_serve_breaker_state{model="adult",source="adult@v2"} 0
kiln_serve_shed_total 0
"#;

    #[test]
    fn the_challengers_counters_are_read_from_its_route_and_source_only() {
        let samples = samples("s", TEXT).expect("samples");
        assert_eq!(samples.len(), 9);
        let canary = challenger_counters(&samples, "adult", 2, "canary");
        assert_eq!(canary, Counters { ok: 40.0, failed: 3.0, breaker_opens: 1.0, breaker_open_now: false });
        assert_eq!(challenger_counters(&samples, "adult", 2, "shadow").ok, 200.0);
        assert_eq!(challenger_counters(&samples, "adult", 3, "canary"), Counters::default());
    }

    #[test]
    fn counts_since_a_base_survive_a_server_restart() {
        let base = Counters { ok: 30.0, failed: 1.0, breaker_opens: 0.0, breaker_open_now: false };
        let now = Counters { ok: 45.0, failed: 1.0, breaker_opens: 1.0, breaker_open_now: true };
        assert_eq!(
            since(now, Some(base)),
            Counters { ok: 15.0, failed: 0.0, breaker_opens: 1.0, breaker_open_now: true }
        );
        // restarted: 12 is below the base of 30, all 12 are new
        let restarted = Counters { ok: 12.0, ..Counters::default() };
        assert_eq!(since(restarted, Some(base)).ok, 12.0);
    }

    #[test]
    fn escaped_labels_and_bad_lines() {
        let samples = samples("s", "m{a=\"x\\\"y\",b=\"\"} 1.5\n").expect("samples");
        assert_eq!(samples[0].labels["a"], "x\"y");
        assert_eq!(samples[0].labels["b"], "");
        assert_eq!(samples[0].value, 1.5);
        let error = super::samples("http://h:1", "ok 1\nm{a=\"x\" 1\n").expect_err("unclosed");
        assert!(matches!(&error, Error::Metrics { line: 2, .. }), "{error}");
        assert!(super::samples("s", "m abc").is_err());
    }
}
