//! The HTML rendering: one self-contained page (inline style, inline SVG, no script).

use std::fmt::Write;

use super::markdown::{ci_text, class_labels};
use super::svg::{self, ForestRow};
use super::{
    NONE, bytes, count, decide_by_text, decided_by_text, escape_html as esc, failures, gate_kind_text, metric_names,
    num, opt, opt_short, p_value, short, truncate_middle,
};
use kiln_core::schema::Task;

use crate::gates::{Status, Verdict};
use crate::report::{EvalReport, FairnessSummary, MetricValue, ModelReport, SliceReport};
use crate::slices::OVERALL;

const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--border:#d1d9e0;--alt:#f6f8fa;--head:#eef1f4;--pass:#1a7f37;--fail:#cf222e;--accent:#0969da}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif;color:var(--fg);background:#fff}
header{padding:22px 32px 14px;border-bottom:1px solid var(--border);background:var(--alt)}
h1{margin:0;font-size:24px;font-weight:600}
.sub{color:var(--muted);margin:4px 0 0}
nav{position:sticky;top:0;z-index:1;background:#fff;border-bottom:1px solid var(--border);padding:8px 32px;display:flex;flex-wrap:wrap;gap:4px 18px;font-size:13px}
nav a{color:var(--accent);text-decoration:none}
nav a:hover{text-decoration:underline}
main{padding:4px 32px 48px;max-width:1500px}
section{margin-top:26px}
h2{font-size:20px;font-weight:600;border-bottom:1px solid var(--border);padding-bottom:6px;margin:0 0 12px}
h3{font-size:15px;font-weight:600;margin:22px 0 8px}
h4{font-size:14px;font-weight:600;margin:14px 0 6px}
p{margin:6px 0}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}
th,td{border:1px solid var(--border);padding:4px 9px;text-align:left;vertical-align:top}
th{background:var(--head);font-weight:600}
tbody tr:nth-child(even){background:var(--alt)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th.num{text-align:right}
.ci{display:block;color:var(--muted);font-size:11px}
.badge{display:inline-block;white-space:nowrap;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;vertical-align:middle}
.pass{background:var(--pass)}
.fail{background:var(--fail)}
.neutral{background:#6e7781}
.outline{background:#fff;color:var(--muted);border:1px solid var(--border)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:12px;margin:10px 0}
.card{border:1px solid var(--border);border-radius:6px;padding:10px 14px;background:#fff}
.card .k{color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.05em}
.card .v{font-size:15px;font-weight:600;overflow-wrap:anywhere}
.plots{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
svg.plot{max-width:100%;height:auto;border:1px solid var(--border);border-radius:6px;background:#fff}
.scroll{overflow-x:auto;max-width:100%}
.muted{color:var(--muted)}
tr.suppressed td{color:var(--muted)}
tr.chosen td{background:#dafbe1}
.model{border-top:3px solid var(--border);padding-top:8px;margin-top:40px}
footer{color:var(--muted);font-size:12px;padding:16px 32px;border-top:1px solid var(--border)}
"#;

/// Writes `report` as one HTML page.
pub(super) fn render(report: &EvalReport) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Evaluation report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&report.project)
    );
    let _ = writeln!(
        out,
        "<header><h1>Evaluation report: {}</h1><p class=\"sub\">{} · {} rows · {} task · primary metric {}</p></header>",
        esc(&report.project),
        esc(&report.data),
        count(Some(report.n_rows as u64)),
        report.task.as_str(),
        esc(&report.primary_metric)
    );
    nav(&mut out, report);
    out.push_str("<main>\n");
    summary(&mut out, report);
    verdicts(&mut out, report);
    comparison(&mut out, report);
    for (i, model) in report.models.iter().enumerate() {
        model_section(&mut out, report, i, model);
    }
    out.push_str("</main>\n");
    let _ = writeln!(
        out,
        "<footer>kiln-eval report, schema version {}. Intervals: {}. Every number comes from the evaluation report; no row data is embedded.</footer>",
        report.schema_version,
        esc(&ci_text(report))
    );
    out.push_str("</body>\n</html>\n");
    out
}

fn verdict_of<'a>(report: &'a EvalReport, model: &str) -> Option<&'a Verdict> {
    report.verdicts.iter().find(|v| v.model == model)
}

fn badge(v: Option<&Verdict>) -> String {
    match v {
        Some(v) if v.passed => r#"<span class="badge pass">PASS</span>"#.into(),
        Some(v) => format!(r#"<span class="badge fail">FAIL · {}</span>"#, v.n_failed),
        None => r#"<span class="badge neutral">no checks</span>"#.into(),
    }
}

fn nav(out: &mut String, report: &EvalReport) {
    out.push_str(
        r##"<nav><a href="#summary">Summary</a><a href="#verdicts">Verdicts</a><a href="#comparison">Comparison</a>"##,
    );
    for (i, m) in report.models.iter().enumerate() {
        let _ = write!(out, r##"<a href="#model-{i}">{}</a>"##, esc(&m.name));
    }
    out.push_str("</nav>\n");
}

fn card(out: &mut String, key: &str, value_html: &str) {
    let _ =
        write!(out, r#"<div class="card"><div class="k">{}</div><div class="v">{value_html}</div></div>"#, esc(key));
}

fn summary(out: &mut String, report: &EvalReport) {
    out.push_str("<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">");
    let chosen = match &report.chosen {
        Some(c) => format!(r#"{} <span class="badge pass">chosen</span>"#, esc(c)),
        None => r#"<span class="badge fail">none</span> <span class="muted">no model passed</span>"#.into(),
    };
    card(out, "Chosen model", &chosen);
    card(out, "Primary metric", &esc(&report.primary_metric));
    card(out, "Data", &esc(&report.data));
    card(out, "Rows", &count(Some(report.n_rows as u64)));
    card(out, "Task", report.task.as_str());
    card(out, "Intervals", &esc(&ci_text(report)));
    let s = &report.settings;
    card(out, "Thresholds decided by", &esc(decide_by_text(s.decide_by)));
    if report.task == Task::Binary {
        card(out, "Decision threshold", &short(s.threshold));
    }
    card(out, "Minimum slice size", &format!("{} rows", s.min_slice_size));
    out.push_str("</div></section>\n");
}

/// A table: header cells (`num` marks right-aligned columns), then pre-rendered rows.
fn table_head(out: &mut String, cells: &[(&str, bool)]) {
    out.push_str("<div class=\"scroll\"><table><thead><tr>");
    for (c, right) in cells {
        let class = if *right { " class=\"num\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", esc(c));
    }
    out.push_str("</tr></thead><tbody>\n");
}

fn table_end(out: &mut String) {
    out.push_str("</tbody></table></div>\n");
}

fn td(text: &str) -> String {
    format!("<td>{}</td>", esc(text))
}

fn td_num(text: &str) -> String {
    format!("<td class=\"num\">{}</td>", esc(text))
}

/// A metric cell: the estimate with its interval below.
fn td_metric(m: Option<&MetricValue>) -> String {
    match m {
        Some(MetricValue { value: Some(v), ci: Some(ci) }) => {
            format!(r#"<td class="num">{}<span class="ci">[{}, {}]</span></td>"#, num(*v), num(ci.lo), num(ci.hi))
        }
        Some(MetricValue { value: Some(v), ci: None }) => td_num(&num(*v)),
        _ => format!(r#"<td class="num muted">{NONE}</td>"#),
    }
}

fn verdicts(out: &mut String, report: &EvalReport) {
    out.push_str("<section id=\"verdicts\"><h2>Verdicts</h2>\n");
    if report.verdicts.is_empty() {
        out.push_str("<p class=\"muted\">No acceptance checks were configured.</p></section>\n");
        return;
    }
    table_head(out, &[("Model", false), ("Verdict", false), ("Checks", true), ("Failed", true), ("Skipped", true)]);
    for v in &report.verdicts {
        let skipped = v.checks.iter().filter(|c| c.status == Status::Skipped).count();
        let _ = writeln!(
            out,
            "<tr>{}<td>{}</td>{}{}{}</tr>",
            td(&v.model),
            badge(Some(v)),
            td_num(&v.checks.len().to_string()),
            td_num(&v.n_failed.to_string()),
            td_num(&skipped.to_string())
        );
    }
    table_end(out);
    for v in report.verdicts.iter().filter(|v| !v.passed) {
        let _ = writeln!(out, "<h3>Failures of {}</h3>", esc(&v.model));
        failure_table(out, v);
    }
    out.push_str("</section>\n");
}

fn failure_table(out: &mut String, v: &Verdict) {
    table_head(
        out,
        &[
            ("Check", false),
            ("Metric", false),
            ("Slice", false),
            ("Value", true),
            ("Threshold", true),
            ("Decided by", false),
            ("Compared value", true),
            ("Note", false),
        ],
    );
    for c in failures(&v.checks) {
        let _ = writeln!(
            out,
            "<tr>{}{}{}{}{}{}{}{}</tr>",
            td(gate_kind_text(c.kind)),
            td(&c.metric),
            td(&c.slice),
            td_num(&opt(c.value)),
            td_num(&format!("{} {}", c.op, short(c.threshold))),
            td(decided_by_text(c.decided_by)),
            td_num(&opt(c.decided_value)),
            td(c.note.as_deref().unwrap_or(""))
        );
    }
    table_end(out);
}

fn comparison(out: &mut String, report: &EvalReport) {
    out.push_str("<section id=\"comparison\"><h2>Model comparison</h2>\n");
    let primary = format!("{} [CI]", report.primary_metric);
    table_head(
        out,
        &[
            ("Model", false),
            ("Kind", false),
            ("Verdict", false),
            (&primary, true),
            ("Lift vs best baseline [CI]", true),
            ("p bootstrap", true),
            ("p DeLong", true),
            ("p McNemar", true),
            ("Train s", true),
            ("Latency ms p50 / p95, one row", true),
            ("Latency ms p50 / p95, 1024 rows", true),
            ("Size", true),
            ("Params", true),
        ],
    );
    for m in &report.models {
        let chosen = report.chosen.as_deref() == Some(m.name.as_str());
        let cmp = report.comparisons.iter().find(|c| c.model == m.name);
        let lift = match cmp {
            Some(c) => {
                let interval = c.lift_ci.map_or_else(String::new, |ci| {
                    format!(r#"<span class="ci">[{}, {}]</span>"#, num(ci.lo), num(ci.hi))
                });
                format!(
                    r#"<td class="num">{}{interval}<span class="ci">vs {}</span></td>"#,
                    num(c.lift),
                    esc(&c.baseline)
                )
            }
            None if m.baseline => r#"<td class="num muted">baseline</td>"#.into(),
            None => format!(r#"<td class="num muted">{NONE}</td>"#),
        };
        let p = |f: fn(&crate::report::Comparison) -> Option<f64>| td_num(&p_value(cmp.and_then(f)));
        let kind = if m.baseline {
            format!(r#"<td>{} <span class="badge outline">baseline</span></td>"#, esc(&m.kind))
        } else {
            td(&m.kind)
        };
        let name = if chosen {
            format!(r#"<td><b>{}</b> <span class="badge pass">chosen</span></td>"#, esc(&m.name))
        } else {
            td(&m.name)
        };
        let c = &m.cost;
        let _ = writeln!(
            out,
            "<tr{}>{name}{kind}<td>{}</td>{}{lift}{}{}{}{}{}{}{}{}</tr>",
            if chosen { " class=\"chosen\"" } else { "" },
            badge(verdict_of(report, &m.name)),
            td_metric(m.overall_metric(&report.primary_metric).as_ref()),
            p(|c| c.bootstrap_p),
            p(|c| c.delong_p),
            p(|c| c.mcnemar_p),
            td_num(&opt_short(c.train_seconds)),
            td_num(&format!("{} / {}", opt_short(c.latency_p50_ms), opt_short(c.latency_p95_ms))),
            td_num(&format!("{} / {}", opt_short(c.batch_latency_p50_ms), opt_short(c.batch_latency_p95_ms))),
            td_num(&bytes(c.size_bytes)),
            td_num(&count(c.n_params)),
        );
    }
    table_end(out);
    if report.comparisons.is_empty() {
        out.push_str("<p class=\"muted\">No paired comparison with a baseline is available.</p>\n");
    }
    let rows: Vec<ForestRow> = report
        .models
        .iter()
        .map(|m| {
            let v = m.overall_metric(&report.primary_metric);
            let label = if m.baseline { format!("{} (baseline)", m.name) } else { m.name.clone() };
            ForestRow::Item {
                title: label.clone(),
                label: truncate_middle(&label, 34),
                value: v.and_then(|v| v.value),
                lo: v.and_then(|v| v.ci).map(|ci| ci.lo),
                hi: v.and_then(|v| v.ci).map(|ci| ci.hi),
                note: None,
            }
        })
        .collect();
    let best_baseline = report
        .comparisons
        .first()
        .and_then(|c| report.models.iter().find(|m| m.name == c.baseline))
        .or_else(|| report.models.iter().find(|m| m.baseline))
        .and_then(|m| m.overall_metric(&report.primary_metric)?.value);
    let title = format!("Overall {} by model", report.primary_metric);
    out.push_str("<div class=\"plots\">");
    out.push_str(&svg::forest("", "forest comparison", &title, &rows, best_baseline.map(|b| (b, "baseline"))));
    out.push_str("</div></section>\n");
}

fn model_section(out: &mut String, report: &EvalReport, index: usize, model: &ModelReport) {
    let _ = writeln!(
        out,
        "<section class=\"model\" id=\"model-{index}\"><h2>{} <span class=\"muted\" style=\"font-weight:400\">{}</span> {}{}</h2>",
        esc(&model.name),
        esc(&model.kind),
        if model.baseline { "<span class=\"badge outline\">baseline</span> " } else { "" },
        badge(verdict_of(report, &model.name))
    );
    if let Some(v) = verdict_of(report, &model.name).filter(|v| !v.passed) {
        let _ = writeln!(out, "<p>{} failed check(s); see <a href=\"#verdicts\">Verdicts</a>.</p>", v.n_failed);
    }
    let primary = &report.primary_metric;
    out.push_str("<h3>Slice metrics</h3>\n<div class=\"plots\">");
    out.push_str(&forest_of_model(model, primary));
    out.push_str("</div>\n");
    slice_table(out, report, model);

    let curves: Vec<_> = curve_slicings(model);
    out.push_str("<h3>ROC curves</h3>\n");
    if model.slicings.iter().flat_map(|s| &s.slices).any(|s| !s.roc.is_empty()) {
        out.push_str("<div class=\"plots\">");
        for s in &curves {
            out.push_str(&svg::roc(&model.name, s, model.overall()));
        }
        out.push_str("</div>\n");
    } else {
        out.push_str("<p class=\"muted\">No ROC curves (binary tasks only, and slices with both classes).</p>\n");
    }
    out.push_str("<h3>Calibration</h3>\n");
    if model.slicings.iter().flat_map(|s| &s.slices).any(|s| !s.calibration.is_empty()) {
        out.push_str("<div class=\"plots\">");
        for s in &curves {
            out.push_str(&svg::calibration(&model.name, s, model.overall()));
        }
        out.push_str("</div>\n");
    } else {
        out.push_str("<p class=\"muted\">No calibration curves (binary tasks only).</p>\n");
    }
    out.push_str("<h3>Learning curves</h3>\n");
    if model.learning_curve.is_empty() {
        out.push_str("<p class=\"muted\">No training history recorded for this model.</p>\n");
    } else {
        out.push_str("<div class=\"plots\">");
        out.push_str(&svg::learning(&model.name, &model.learning_curve));
        out.push_str("</div>\n");
    }
    fairness(out, &model.fairness);
    worst(out, model);
    if let Some(overall) = model.overall() {
        confusion(out, overall);
        errors(out, overall);
    }
    out.push_str("</section>\n");
}

/// The slicings that get a ROC and a calibration plot: every slicing but the overall one
/// (whose curve each plot shows for reference), or the overall one alone.
fn curve_slicings(model: &ModelReport) -> Vec<&crate::report::SlicingReport> {
    let others: Vec<_> = model.slicings.iter().filter(|s| s.name != OVERALL).collect();
    if others.is_empty() { model.slicings.iter().take(1).collect() } else { others }
}

fn forest_of_model(model: &ModelReport, primary: &str) -> String {
    let mut rows = Vec::new();
    let multi = model.slicings.len() > 1;
    for slicing in &model.slicings {
        if multi && slicing.name == OVERALL {
            continue;
        }
        rows.push(ForestRow::Heading(slicing.name.clone()));
        for s in &slicing.slices {
            let m = s.metrics.get(primary);
            let note = if s.suppressed { Some(format!("suppressed (n = {})", s.n)) } else { None };
            let n = count(Some(s.n as u64));
            rows.push(ForestRow::Item {
                label: format!("{} (n = {n})", truncate_middle(&s.value, 22)),
                title: format!("{} (n = {n})", s.value),
                value: m.and_then(|m| m.value),
                lo: m.and_then(|m| m.ci).map(|ci| ci.lo),
                hi: m.and_then(|m| m.ci).map(|ci| ci.hi),
                note,
            });
        }
    }
    let overall = model.overall_metric(primary).and_then(|m| m.value);
    let title = format!("{primary} by slice, {}", model.name);
    svg::forest(&model.name, "forest", &title, &rows, overall.map(|v| (v, "overall")))
}

fn slice_table(out: &mut String, report: &EvalReport, model: &ModelReport) {
    let names = metric_names(model, &report.primary_metric);
    let mut head: Vec<(&str, bool)> = vec![("Slicing", false), ("Value", false), ("n", true)];
    head.extend(names.iter().map(|n| (n.as_str(), true)));
    table_head(out, &head);
    for slicing in &model.slicings {
        for s in &slicing.slices {
            let class = if s.suppressed { " class=\"suppressed\"" } else { "" };
            let value = if s.suppressed {
                format!(
                    r#"<td>{} <span class="badge outline" title="fewer than {} rows">suppressed</span></td>"#,
                    esc(&s.value),
                    report.settings.min_slice_size
                )
            } else {
                td(&s.value)
            };
            let _ = write!(out, "<tr{class}>{}{value}{}", td(&slicing.name), td_num(&count(Some(s.n as u64))));
            for name in &names {
                out.push_str(&td_metric(s.metrics.get(name)));
            }
            out.push_str("</tr>\n");
        }
    }
    table_end(out);
}

fn fairness(out: &mut String, summaries: &[FairnessSummary]) {
    out.push_str("<h3>Fairness</h3>\n");
    if summaries.is_empty() {
        out.push_str("<p class=\"muted\">No fairness results (no protected columns, or not computed).</p>\n");
        return;
    }
    for s in summaries {
        let _ = writeln!(out, "<h4>Protected column {}</h4>", esc(&s.column));
        table_head(out, &[("Group", false), ("n", true), ("Selection rate", true), ("TPR", true), ("FPR", true)]);
        for g in &s.groups {
            let _ = writeln!(
                out,
                "<tr>{}{}{}{}{}</tr>",
                td(&g.group),
                td_num(&count(Some(g.n as u64))),
                td_num(&opt(g.selection_rate)),
                td_num(&opt(g.tpr)),
                td_num(&opt(g.fpr))
            );
        }
        table_end(out);
        if s.gaps.is_empty() {
            continue;
        }
        let mut methods: Vec<&str> = s.gaps.values().flat_map(|m| m.keys().map(String::as_str)).collect();
        methods.sort_unstable();
        methods.dedup();
        let mut head: Vec<(&str, bool)> = vec![("Gap metric", false)];
        head.extend(methods.iter().map(|m| (*m, true)));
        table_head(out, &head);
        for (metric, by_method) in &s.gaps {
            out.push_str("<tr>");
            out.push_str(&td(metric));
            for m in &methods {
                out.push_str(&td_num(&opt(by_method.get(*m).copied().flatten())));
            }
            out.push_str("</tr>\n");
        }
        table_end(out);
    }
}

fn worst(out: &mut String, model: &ModelReport) {
    out.push_str("<h3>Worst slices</h3>\n");
    if model.worst_slices.is_empty() {
        out.push_str("<p class=\"muted\">No slice results to rank.</p>\n");
        return;
    }
    table_head(
        out,
        &[("Slicing", false), ("Value", false), ("n", true), ("Metric", false), ("Value [CI]", true), ("Gap", true)],
    );
    for w in &model.worst_slices {
        let _ = writeln!(
            out,
            "<tr>{}{}{}{}{}{}</tr>",
            td(&w.slicing),
            td(&w.value),
            td_num(&count(Some(w.n as u64))),
            td(&w.metric),
            td_metric(Some(&w.value_metric)),
            td_num(&short(w.gap))
        );
    }
    table_end(out);
}

fn confusion(out: &mut String, overall: &SliceReport) {
    out.push_str("<h3>Confusion matrix (overall)</h3>\n");
    let Some(m) = overall.confusion.as_ref().filter(|m| !m.is_empty()) else {
        out.push_str("<p class=\"muted\">No confusion matrix for this task.</p>\n");
        return;
    };
    let labels = class_labels(m.len());
    let max = m.iter().flatten().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
    let mut head: Vec<(String, bool)> = vec![("True \\ predicted".into(), false)];
    head.extend(labels.iter().map(|l| (l.clone(), true)));
    table_head(out, &head.iter().map(|(s, r)| (s.as_str(), *r)).collect::<Vec<_>>());
    for (label, row) in labels.iter().zip(m) {
        let total: f64 = row.iter().filter(|v| v.is_finite()).sum();
        let _ = write!(out, "<tr><th>{}</th>", esc(label));
        for v in row {
            let alpha = if max > 0.0 && v.is_finite() { 0.08 + 0.5 * v / max } else { 0.0 };
            let share = if total > 0.0 { format!("{}% of true", short(100.0 * v / total)) } else { String::new() };
            let _ = write!(
                out,
                r#"<td class="num" style="background:rgba(78,121,167,{:.2})">{}<span class="ci">{}</span></td>"#,
                alpha,
                short(*v),
                esc(&share)
            );
        }
        out.push_str("</tr>\n");
    }
    table_end(out);
}

fn errors(out: &mut String, overall: &SliceReport) {
    out.push_str("<h3>Most confident errors (overall)</h3>\n");
    if overall.confident_errors.is_empty() {
        out.push_str("<p class=\"muted\">No errors listed.</p>\n");
        return;
    }
    let mut columns: Vec<&str> =
        overall.confident_errors.iter().flat_map(|e| e.values.keys().map(String::as_str)).collect();
    columns.sort_unstable();
    columns.dedup();
    let mut head: Vec<(&str, bool)> = vec![("Row", true), ("Label", false), ("Predicted", false), ("Score", true)];
    head.extend(columns.iter().map(|c| (*c, false)));
    table_head(out, &head);
    for e in &overall.confident_errors {
        let _ = write!(
            out,
            "<tr>{}{}{}{}",
            td_num(&e.row.to_string()),
            td(&e.label),
            td(&e.predicted),
            td_num(&num(e.score))
        );
        for c in &columns {
            out.push_str(&td(e.values.get(*c).map_or("", String::as_str)));
        }
        out.push_str("</tr>\n");
    }
    table_end(out);
}
