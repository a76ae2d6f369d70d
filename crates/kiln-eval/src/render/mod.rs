//! Markdown and HTML renderings of an [`EvalReport`].
//!
//! Both read the report only, never the evaluated rows, so their size does not grow with the
//! number of rows: numbers are written to about four significant digits and plot coordinates
//! to one decimal. The HTML is one self-contained file (inline style and inline SVG plots, no
//! script, nothing fetched) that opens offline. Output is deterministic: the same report gives
//! the same bytes.
//!
//! Every value that comes from the data or the configuration (project, model, slice and
//! column names, error-row values) is escaped: for HTML with [`escape_html`], for Markdown
//! table cells with [`escape_markdown`].

mod html;
mod markdown;
mod svg;

use crate::config::DecideBy;
use crate::gates::{Check, DecidedBy, GateKind, Status};
use crate::metrics::Metric;
use crate::report::{EvalReport, MetricValue, ModelReport};

/// The report as Markdown: summary, verdicts with every failure, the model comparison, and per
/// model the slice metrics, fairness, worst slices, overall confusion matrix and most
/// confident errors.
pub fn markdown(report: &EvalReport) -> String {
    markdown::render(report)
}

/// The report as one self-contained HTML file with inline SVG plots (ROC and calibration
/// curves per slicing, slice metrics with intervals, learning curves).
pub fn html(report: &EvalReport) -> String {
    html::render(report)
}

pub use kiln_core::text::{escape_html, escape_markdown};

/// The placeholder for a missing or undefined number.
pub(crate) const NONE: &str = "—";

/// A number to four significant digits ("0.9123", "12.35", "1235", "1.235e-5"); missing and
/// non-finite values read "—".
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return NONE.into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-4..6).contains(&mag) {
        let s = format!("{v:.3e}");
        return s;
    }
    let decimals = (3 - mag).max(0) as usize;
    let s = format!("{v:.decimals$}");
    // Rounding may carry into a new digit ("9.9996" → "10.000"): keep four significant digits.
    if s.trim_start_matches('-').replace('.', "").trim_start_matches('0').len() > 4 && decimals > 0 {
        return format!("{v:.prec$}", prec = decimals - 1);
    }
    s
}

/// A number to at most four significant digits, trailing zeros dropped ("0.5", "2.31",
/// "0.0012"): for settings, thresholds and costs, where fixed decimals add nothing.
pub(crate) fn short(v: f64) -> String {
    let s = num(v);
    if !s.contains('.') || s.contains('e') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// An optional number to four significant digits.
pub(crate) fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| NONE.into(), num)
}

/// An optional number to at most four significant digits, trailing zeros dropped.
pub(crate) fn opt_short(v: Option<f64>) -> String {
    v.map_or_else(|| NONE.into(), short)
}

/// A metric as `0.9123 [0.9051, 0.9184]` (the interval only when there is one).
pub(crate) fn metric_text(m: &MetricValue) -> String {
    match (m.value, m.ci) {
        (Some(v), Some(ci)) => format!("{} [{}, {}]", num(v), num(ci.lo), num(ci.hi)),
        (Some(v), None) => num(v),
        (None, _) => NONE.into(),
    }
}

/// A p-value: four significant digits, or "< 0.0001".
pub(crate) fn p_value(p: Option<f64>) -> String {
    match p {
        Some(p) if p.is_finite() && p < 1e-4 => "< 0.0001".into(),
        other => opt(other),
    }
}

/// A byte count as "12.3 MB" style text.
pub(crate) fn bytes(b: Option<u64>) -> String {
    let Some(b) = b else { return NONE.into() };
    let v = b as f64;
    if v < 1e3 {
        format!("{b} B")
    } else if v < 1e6 {
        format!("{} kB", short(v / 1e3))
    } else if v < 1e9 {
        format!("{} MB", short(v / 1e6))
    } else {
        format!("{} GB", short(v / 1e9))
    }
}

/// A count such as a parameter number, with thin grouping ("1,234,567").
pub(crate) fn count(c: Option<u64>) -> String {
    let Some(c) = c else { return NONE.into() };
    let digits = c.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// What decided a check, in words.
pub(crate) fn decided_by_text(d: DecidedBy) -> &'static str {
    match d {
        DecidedBy::CiLower => "CI lower bound",
        DecidedBy::CiUpper => "CI upper bound",
        DecidedBy::Point => "point estimate",
    }
}

/// The kind of a check, in words.
pub(crate) fn gate_kind_text(k: GateKind) -> &'static str {
    match k {
        GateKind::Metric => "metric",
        GateKind::Fairness => "fairness",
        GateKind::Baseline => "baseline",
        GateKind::Budget => "budget",
    }
}

/// How checks were decided, in words.
pub(crate) fn decide_by_text(d: DecideBy) -> &'static str {
    match d {
        DecideBy::Ci => "confidence bound (else point estimate)",
        DecideBy::Point => "point estimate",
    }
}

/// The failed checks of a verdict.
pub(crate) fn failures(checks: &[Check]) -> impl Iterator<Item = &Check> {
    checks.iter().filter(|c| c.status == Status::Fail)
}

/// The metric names a model reports, the primary metric first, then in the project's metric
/// order, then any others alphabetically.
pub(crate) fn metric_names(model: &ModelReport, primary: &str) -> Vec<String> {
    let mut present: Vec<&str> = Vec::new();
    for slicing in &model.slicings {
        for slice in &slicing.slices {
            for name in slice.metrics.keys() {
                if !present.contains(&name.as_str()) {
                    present.push(name);
                }
            }
        }
    }
    let mut sorted = present.clone();
    sorted.sort_unstable();
    let mut out: Vec<String> = Vec::with_capacity(present.len());
    let mut push = |name: &str| {
        if present.contains(&name) && !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    };
    push(primary);
    for m in Metric::ALL {
        push(m.name());
    }
    for name in sorted {
        push(name);
    }
    out
}

/// At most `max` characters of `text`, with "…" when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max` characters of `text`, cut in the middle with "…" when longer, so that both
/// the start and the end (where values often differ) stay readable.
pub(crate) fn truncate_middle(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    let head = max.saturating_sub(1) / 2;
    let tail = max.saturating_sub(1) - head;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(n - tail));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_four_significant_digits() {
        assert_eq!(num(0.912_345), "0.9123");
        assert_eq!(num(12.3456), "12.35");
        assert_eq!(num(1234.56), "1235");
        assert_eq!(num(123_456.0), "123456");
        assert_eq!(num(0.000_123_46), "0.0001235");
        assert_eq!(num(1.5e-7), "1.500e-7");
        assert_eq!(num(9.999_96), "10.00");
        assert_eq!(num(-0.5), "-0.5000");
        assert_eq!(num(0.0), "0");
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(0.0012), "0.0012");
        assert_eq!(short(1200.0), "1200");
        assert_eq!(short(95.0), "95");
        assert_eq!(num(f64::NAN), NONE);
        assert_eq!(num(f64::INFINITY), NONE);
    }

    #[test]
    fn metrics_counts_and_bytes() {
        let ci = crate::ci::Interval { lo: 0.905, hi: 0.918 };
        assert_eq!(metric_text(&MetricValue { value: Some(0.912), ci: Some(ci) }), "0.9120 [0.9050, 0.9180]");
        assert_eq!(metric_text(&MetricValue { value: None, ci: Some(ci) }), NONE);
        assert_eq!(count(Some(1_234_567)), "1,234,567");
        assert_eq!(count(Some(12)), "12");
        assert_eq!(bytes(Some(2_500_000)), "2.5 MB");
        assert_eq!(p_value(Some(1e-9)), "< 0.0001");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_html(r#"<b>&"x"'"#), "&lt;b&gt;&amp;&quot;x&quot;&#39;");
        assert_eq!(escape_markdown("a|b<c>\nd"), "a\\|b&lt;c&gt; d");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate_middle("abcdefgh", 5), "ab…gh");
        assert_eq!(truncate_middle("abcd", 5), "abcd");
    }
}
