//! The monitoring report as Markdown and as one self-contained HTML page (inline style and
//! SVG, no script, no row data): the verdict and findings first, then per window the groups'
//! drift tables, a reference-against-current plot per drifted feature, and the drift of each
//! feature over the windows per group.

use std::fmt::Write;

use kiln_core::text::escape_markdown as md;

use crate::monitor::group_name;
use crate::report::{GroupResult, MonitorReport};

mod html;
mod svg;

pub use html::html;

/// A number to four significant digits; "—" when not finite.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e6).contains(&a) {
        format!("{v:.3e}")
    } else {
        format!("{:.4}", v).trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// "drift" or "no drift".
pub(crate) fn verdict_text(report: &MonitorReport) -> &'static str {
    if report.drift { "drift found" } else { "no drift found" }
}

/// The report as Markdown.
pub fn markdown(report: &MonitorReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Monitoring report: {}\n", verdict_text(report));
    let _ = writeln!(
        out,
        "Reference: {} `{}` ({} rows). Current: {} `{}` ({} rows). {}; drift share {}; minimum rows {}.\n",
        report.reference.kind,
        md(&report.reference.name),
        report.reference.rows,
        report.current.kind,
        md(&report.current.name),
        report.current.rows,
        md(&report.settings.windows),
        num(report.settings.drift_share),
        report.settings.min_rows
    );
    out.push_str("## Findings\n\n");
    if report.findings.is_empty() {
        out.push_str("Nothing drifted.\n");
    }
    for f in &report.findings {
        let _ = writeln!(out, "- window {}: {}{}", f.window, md(&f.message), if f.drift { " **(drift)**" } else { "" });
    }
    for w in &report.windows {
        let _ = writeln!(out, "\n## Window {}: {} ({} rows)\n", w.index, md(&w.label), w.rows);
        out.push_str("| group | rows | drifted features | share | scores | estimated | realised |\n");
        out.push_str("| --- | ---: | ---: | ---: | --- | --- | --- |\n");
        for g in &w.groups {
            group_row(&mut out, g);
        }
        let overall = &w.groups[0];
        if !overall.features.is_empty() {
            out.push_str("\n| feature | test | score | threshold | drifted | missing (ref → cur) |\n");
            out.push_str("| --- | --- | ---: | ---: | --- | --- |\n");
            for f in overall.features.iter().chain(&overall.scores) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} → {} |",
                    md(&f.feature),
                    f.result.test,
                    num(f.result.score),
                    num(f.result.threshold),
                    if f.result.drifted { "**yes**" } else { "no" },
                    pct(f.reference_missing_share),
                    pct(f.current_missing_share)
                );
            }
        }
    }
    out
}

fn group_row(out: &mut String, g: &GroupResult) {
    let metrics = |ms: &[crate::report::MetricResult]| {
        ms.iter()
            .map(|m| format!("{} {} [{}, {}]", m.metric, num(m.value), num(m.low), num(m.high)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let (drifted, share) = match (&g.dataset, &g.skipped) {
        (_, Some(why)) => (md(why), "—".into()),
        (Some(d), None) => (format!("{} of {}", d.n_drifted, d.n_columns), pct(d.share)),
        (None, None) => ("—".into(), "—".into()),
    };
    let scores = g.scores.as_ref().map_or("—".into(), |s| {
        format!("{} {}{}", s.result.test, num(s.result.score), if s.result.drifted { " **drift**" } else { "" })
    });
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} |",
        md(&group_name(g)),
        g.rows,
        drifted,
        share,
        scores,
        metrics(&g.estimated),
        metrics(&g.realised)
    );
}

pub(crate) fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}
