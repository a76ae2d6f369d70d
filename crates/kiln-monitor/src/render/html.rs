//! The HTML page: one self-contained file (inline style, inline SVG, no script).

use std::collections::BTreeMap;
use std::fmt::Write;

use kiln_core::text::escape_html as esc;

use super::{num, pct, svg, verdict_text};
use crate::monitor::group_name;
use crate::report::{FeatureResult, GroupResult, MonitorReport};

const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--border:#d1d9e0;--alt:#f6f8fa;--head:#eef1f4;--ok:#1a7f37;--bad:#cf222e}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:var(--fg)}
header{padding:20px 32px 12px;border-bottom:1px solid var(--border);background:var(--alt)}
h1{margin:0;font-size:24px;font-weight:600}
.sub{color:var(--muted);margin:4px 0 0}
main{padding:4px 32px 48px;max-width:1500px}
h2{font-size:20px;font-weight:600;border-bottom:1px solid var(--border);padding-bottom:6px;margin:26px 0 12px}
h3{font-size:15px;font-weight:600;margin:18px 0 8px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}
th,td{border:1px solid var(--border);padding:4px 9px;text-align:left}
th{background:var(--head)}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.drift td{background:#ffebe9}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.ok{background:var(--ok)}.bad{background:var(--bad)}
.plots{display:flex;flex-wrap:wrap;gap:16px}
svg.plot{max-width:100%;height:auto;border:1px solid var(--border);border-radius:6px;background:#fff}
.muted{color:var(--muted)}
footer{color:var(--muted);font-size:12px;padding:16px 32px;border-top:1px solid var(--border)}
"#;

/// The report as one HTML page whose size depends on windows, groups and features only.
pub fn html(report: &MonitorReport) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let badge = if report.drift { "bad" } else { "ok" };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Monitoring report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header><h1>Monitoring report <span class=\"badge {badge}\">{}</span></h1><p class=\"sub\">reference: {} {} ({} rows) · current: {} {} ({} rows) · {} · drift share {} · min rows {}</p></header>\n<main>\n",
        verdict_text(report),
        esc(&report.reference.kind),
        esc(&report.reference.name),
        report.reference.rows,
        esc(&report.current.kind),
        esc(&report.current.name),
        report.current.rows,
        esc(&report.settings.windows),
        num(report.settings.drift_share),
        report.settings.min_rows
    );
    findings(&mut out, report);
    over_time(&mut out, report);
    for w in &report.windows {
        let _ = writeln!(
            out,
            "<h2>Window {}: {} <span class=\"muted\">({} rows)</span></h2>",
            w.index,
            esc(&w.label),
            w.rows
        );
        groups_table(&mut out, &w.groups);
        for g in w.groups.iter().filter(|g| g.skipped.is_none()) {
            let drifted: Vec<&FeatureResult> =
                g.features.iter().chain(&g.scores).filter(|f| f.result.drifted).collect();
            if g.slice == "overall" {
                features_table(&mut out, g);
            }
            if drifted.is_empty() {
                continue;
            }
            let _ = writeln!(out, "<h3>{}: drifted</h3>\n<div class=\"plots\">", esc(&group_name(g)));
            for f in drifted {
                let title = format!("{} ({} {})", f.feature, f.result.test, num(f.result.score));
                out.push_str(&svg::shares(&title, &f.plot));
            }
            out.push_str("</div>\n");
        }
    }
    out.push_str("</main>\n<footer>kiln monitoring report (kiln.monitor.v1). Plots hold binned shares only; no row data is embedded.</footer>\n</body>\n</html>\n");
    out
}

fn findings(out: &mut String, report: &MonitorReport) {
    out.push_str("<h2>Findings</h2>\n");
    if report.findings.is_empty() {
        out.push_str("<p>Nothing drifted.</p>\n");
        return;
    }
    out.push_str("<ul>\n");
    for f in &report.findings {
        let mark = if f.drift { " <span class=\"badge bad\">drift</span>" } else { "" };
        let _ = writeln!(out, "<li>window {}: {}{mark}</li>", f.window, esc(&f.message));
    }
    out.push_str("</ul>\n");
}

/// Per feature that drifted anywhere: its score over the windows, one line per group where
/// it drifted (and overall).
fn over_time(out: &mut String, report: &MonitorReport) {
    if report.windows.len() < 2 {
        return;
    }
    let mut series: BTreeMap<String, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
    let mut thresholds: BTreeMap<String, f64> = BTreeMap::new();
    let mut drifted: BTreeMap<(String, String), bool> = BTreeMap::new();
    // a group's line is drawn only when its test is the overall one (one threshold per plot)
    let mut tests: BTreeMap<String, crate::stats::StatTest> = BTreeMap::new();
    for w in &report.windows {
        for f in w.groups[0].features.iter().chain(&w.groups[0].scores) {
            tests.entry(f.feature.clone()).or_insert(f.result.test);
        }
    }
    for w in &report.windows {
        for g in &w.groups {
            for f in g.features.iter().chain(&g.scores).filter(|f| tests.get(&f.feature) == Some(&f.result.test)) {
                let line = series
                    .entry(f.feature.clone())
                    .or_default()
                    .entry(group_name(g))
                    .or_insert_with(|| vec![f64::NAN; report.windows.len()]);
                line[w.index] = f.result.score;
                thresholds.insert(f.feature.clone(), f.result.threshold);
                *drifted.entry((f.feature.clone(), group_name(g))).or_default() |= f.result.drifted;
            }
        }
    }
    let mut plots = String::new();
    for (feature, groups) in &series {
        let lines: Vec<(String, Vec<f64>)> = groups
            .iter()
            .filter(|(g, _)| *g == "overall" || drifted.get(&(feature.clone(), (*g).clone())).copied().unwrap_or(false))
            .take(8)
            .map(|(g, v)| (g.clone(), v.clone()))
            .collect();
        if lines.len() > 1 || drifted.get(&(feature.clone(), "overall".into())).copied().unwrap_or(false) {
            plots.push_str(&svg::over_time(
                &format!("{feature}: drift score by window"),
                &lines,
                thresholds[feature],
                report.windows.len(),
            ));
        }
    }
    if !plots.is_empty() {
        let _ = writeln!(out, "<h2>Drift over time</h2>\n<div class=\"plots\">{plots}</div>");
    }
}

fn groups_table(out: &mut String, groups: &[GroupResult]) {
    out.push_str("<table><thead><tr><th>group</th><th>rows</th><th>drifted features</th><th>share</th><th>scores</th><th>estimated</th><th>realised</th></tr></thead><tbody>\n");
    for g in groups {
        let drift = g.dataset.is_some_and(|d| d.drifted) || g.scores.as_ref().is_some_and(|s| s.result.drifted);
        let (drifted, share) = match (&g.dataset, &g.skipped) {
            (_, Some(why)) => (format!("<span class=\"muted\">{}</span>", esc(why)), "—".to_string()),
            (Some(d), None) => (format!("{} of {}", d.n_drifted, d.n_columns), pct(d.share)),
            (None, None) => ("—".into(), "—".into()),
        };
        let scores = g.scores.as_ref().map_or("—".into(), |s| format!("{} {}", s.result.test, num(s.result.score)));
        let metrics = |ms: &[crate::report::MetricResult]| {
            ms.iter()
                .map(|m| format!("{} {} [{}, {}]", esc(&m.metric), num(m.value), num(m.low), num(m.high)))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let _ = writeln!(
            out,
            "<tr{}><td>{}</td><td class=\"num\">{}</td><td>{drifted}</td><td class=\"num\">{share}</td><td>{scores}</td><td>{}</td><td>{}</td></tr>",
            if drift { " class=\"drift\"" } else { "" },
            esc(&group_name(g)),
            g.rows,
            metrics(&g.estimated),
            metrics(&g.realised)
        );
    }
    out.push_str("</tbody></table>\n");
}

fn features_table(out: &mut String, g: &GroupResult) {
    out.push_str("<table><thead><tr><th>feature</th><th>test</th><th>score</th><th>threshold</th><th>drifted</th><th>missing (reference → current)</th></tr></thead><tbody>\n");
    for f in g.features.iter().chain(&g.scores) {
        let _ = writeln!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{} → {}</td></tr>",
            if f.result.drifted { " class=\"drift\"" } else { "" },
            esc(&f.feature),
            f.result.test,
            num(f.result.score),
            num(f.result.threshold),
            if f.result.drifted { "yes" } else { "no" },
            pct(f.reference_missing_share),
            pct(f.current_missing_share)
        );
    }
    out.push_str("</tbody></table>\n");
}
