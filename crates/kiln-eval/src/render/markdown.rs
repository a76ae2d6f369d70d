//! The Markdown rendering: GitHub-flavoured tables, one section per model.

use std::fmt::Write;

use super::{
    NONE, bytes, count, decide_by_text, decided_by_text, escape_markdown as md, failures, gate_kind_text, metric_names,
    metric_text, num, opt, opt_short, p_value, short,
};
use kiln_core::schema::Task;

use crate::config::CiMethod;
use crate::report::{EvalReport, FairnessSummary, ModelReport, SliceReport};

/// Writes `report` as Markdown.
pub(super) fn render(report: &EvalReport) -> String {
    let mut out = String::new();
    summary(&mut out, report);
    verdicts(&mut out, report);
    comparison(&mut out, report);
    for model in &report.models {
        model_section(&mut out, report, model);
    }
    out
}

/// Appends one table row.
fn row(out: &mut String, cells: &[String]) {
    out.push('|');
    for c in cells {
        out.push(' ');
        out.push_str(c);
        out.push_str(" |");
    }
    out.push('\n');
}

/// Appends a header row and its separator; `right` marks numeric columns.
fn header(out: &mut String, cells: &[&str], right: &[bool]) {
    row(out, &cells.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    out.push('|');
    for (i, _) in cells.iter().enumerate() {
        out.push_str(if right.get(i).copied().unwrap_or(false) { " ---: |" } else { " --- |" });
    }
    out.push('\n');
}

pub(super) fn ci_text(report: &EvalReport) -> String {
    let ci = &report.settings.ci;
    match ci.method {
        CiMethod::None => "none".into(),
        CiMethod::Bootstrap => {
            format!("{}% bootstrap, {} replicates, seed {}", short(ci.level * 100.0), ci.replicates, ci.seed)
        }
        CiMethod::Jackknife => {
            format!("{}% delete-a-group jackknife, {} groups, seed {}", short(ci.level * 100.0), ci.replicates, ci.seed)
        }
    }
}

fn summary(out: &mut String, report: &EvalReport) {
    let _ = writeln!(out, "# Evaluation report: {}\n", md(&report.project));
    let _ = writeln!(out, "| | |\n| --- | --- |");
    let _ = writeln!(out, "| Project | {} |", md(&report.project));
    let _ = writeln!(out, "| Data | {} |", md(&report.data));
    let _ = writeln!(out, "| Rows | {} |", count(Some(report.n_rows as u64)));
    let _ = writeln!(out, "| Task | {} |", report.task.as_str());
    let _ = writeln!(out, "| Primary metric | {} |", md(&report.primary_metric));
    let chosen = match &report.chosen {
        Some(c) => format!("**{}**", md(c)),
        None => "none: no model passed every check".into(),
    };
    let _ = writeln!(out, "| Chosen model | {chosen} |");
    let s = &report.settings;
    let _ = writeln!(out, "| Intervals | {} |", ci_text(report));
    let _ = writeln!(out, "| Thresholds decided by | {} |", decide_by_text(s.decide_by));
    if report.task == Task::Binary {
        let _ = writeln!(out, "| Decision threshold | {} |", short(s.threshold));
    }
    let _ = writeln!(out, "| Minimum slice size | {} |", s.min_slice_size);
    out.push('\n');
}

fn verdicts(out: &mut String, report: &EvalReport) {
    out.push_str("## Verdicts\n\n");
    if report.verdicts.is_empty() {
        out.push_str("No acceptance checks were configured.\n\n");
        return;
    }
    header(out, &["Model", "Verdict", "Checks", "Failed", "Skipped"], &[false, false, true, true, true]);
    for v in &report.verdicts {
        let skipped = v.checks.iter().filter(|c| c.status == crate::gates::Status::Skipped).count();
        let verdict = if v.passed { "PASS" } else { "**FAIL**" };
        row(
            out,
            &[md(&v.model), verdict.into(), v.checks.len().to_string(), v.n_failed.to_string(), skipped.to_string()],
        );
    }
    out.push('\n');
    for v in report.verdicts.iter().filter(|v| !v.passed) {
        let _ = writeln!(out, "### Failures of {}\n", md(&v.model));
        header(
            out,
            &["Check", "Metric", "Slice", "Value", "Threshold", "Decided by", "Compared value", "Note"],
            &[false, false, false, true, false, false, true, false],
        );
        for c in failures(&v.checks) {
            row(
                out,
                &[
                    gate_kind_text(c.kind).into(),
                    md(&c.metric),
                    md(&c.slice),
                    opt(c.value),
                    format!("{} {}", c.op, short(c.threshold)),
                    decided_by_text(c.decided_by).into(),
                    opt(c.decided_value),
                    c.note.as_deref().map_or_else(String::new, md),
                ],
            );
        }
        out.push('\n');
    }
}

fn comparison(out: &mut String, report: &EvalReport) {
    out.push_str("## Model comparison\n\n");
    let primary = md(&report.primary_metric);
    let metric_head = format!("{primary} [CI]");
    header(
        out,
        &[
            "Model",
            "Kind",
            &metric_head,
            "Lift vs best baseline [CI]",
            "p (bootstrap)",
            "p (DeLong)",
            "p (McNemar)",
            "Train s",
            "Latency p50 / p95 ms (row)",
            "Latency p50 / p95 ms (1024 rows)",
            "Size",
            "Params",
        ],
        &[false, false, true, true, true, true, true, true, true, true, true, true],
    );
    for m in &report.models {
        let metric = m.overall_metric(&report.primary_metric).map_or_else(|| NONE.into(), |v| metric_text(&v));
        let cmp = report.comparisons.iter().find(|c| c.model == m.name);
        let (lift, pb, pd, pm) = match cmp {
            Some(c) => {
                let lift = match c.lift_ci {
                    Some(ci) => format!("{} [{}, {}] vs {}", num(c.lift), num(ci.lo), num(ci.hi), md(&c.baseline)),
                    None => format!("{} vs {}", num(c.lift), md(&c.baseline)),
                };
                (lift, p_value(c.bootstrap_p), p_value(c.delong_p), p_value(c.mcnemar_p))
            }
            None if m.baseline => ("(baseline)".into(), NONE.into(), NONE.into(), NONE.into()),
            None => (NONE.into(), NONE.into(), NONE.into(), NONE.into()),
        };
        let c = &m.cost;
        let mut name = md(&m.name);
        if report.chosen.as_deref() == Some(m.name.as_str()) {
            name = format!("**{name}** (chosen)");
        }
        let kind = if m.baseline { format!("{} (baseline)", md(&m.kind)) } else { md(&m.kind) };
        row(
            out,
            &[
                name,
                kind,
                metric,
                lift,
                pb,
                pd,
                pm,
                opt_short(c.train_seconds),
                format!("{} / {}", opt_short(c.latency_p50_ms), opt_short(c.latency_p95_ms)),
                format!("{} / {}", opt_short(c.batch_latency_p50_ms), opt_short(c.batch_latency_p95_ms)),
                bytes(c.size_bytes),
                count(c.n_params),
            ],
        );
    }
    out.push('\n');
}

fn model_section(out: &mut String, report: &EvalReport, model: &ModelReport) {
    let baseline = if model.baseline { ", baseline" } else { "" };
    let _ = writeln!(out, "## Model: {} ({}{baseline})\n", md(&model.name), md(&model.kind));
    slice_table(out, report, model);
    fairness(out, &model.fairness);
    worst(out, model);
    if let Some(overall) = model.overall() {
        confusion(out, overall);
        errors(out, overall);
    }
}

fn slice_table(out: &mut String, report: &EvalReport, model: &ModelReport) {
    out.push_str("### Slices\n\n");
    let names = metric_names(model, &report.primary_metric);
    let mut head: Vec<&str> = vec!["Slicing", "Value", "n", "Suppressed"];
    head.extend(names.iter().map(String::as_str));
    let mut right = vec![false, false, true, false];
    right.extend(names.iter().map(|_| true));
    let escaped_head: Vec<String> = head.iter().map(|h| md(h)).collect();
    header(out, &escaped_head.iter().map(String::as_str).collect::<Vec<_>>(), &right);
    for slicing in &model.slicings {
        for slice in &slicing.slices {
            let mut cells = vec![
                md(&slicing.name),
                md(&slice.value),
                count(Some(slice.n as u64)),
                if slice.suppressed { format!("yes (< {})", report.settings.min_slice_size) } else { String::new() },
            ];
            for name in &names {
                cells.push(slice.metrics.get(name).map_or_else(|| NONE.into(), metric_text));
            }
            row(out, &cells);
        }
    }
    out.push('\n');
}

fn fairness(out: &mut String, summaries: &[FairnessSummary]) {
    out.push_str("### Fairness\n\n");
    if summaries.is_empty() {
        out.push_str("No fairness results (no protected columns, or not computed).\n\n");
        return;
    }
    for s in summaries {
        let _ = writeln!(out, "Protected column **{}**:\n", md(&s.column));
        header(out, &["Group", "n", "Selection rate", "TPR", "FPR"], &[false, true, true, true, true]);
        for g in &s.groups {
            row(out, &[md(&g.group), count(Some(g.n as u64)), opt(g.selection_rate), opt(g.tpr), opt(g.fpr)]);
        }
        out.push('\n');
        if !s.gaps.is_empty() {
            let mut methods: Vec<&str> = Vec::new();
            for by_method in s.gaps.values() {
                for m in by_method.keys() {
                    if !methods.contains(&m.as_str()) {
                        methods.push(m);
                    }
                }
            }
            methods.sort_unstable();
            let mut head = vec!["Gap metric".to_string()];
            head.extend(methods.iter().map(|m| md(m)));
            let right: Vec<bool> = (0..head.len()).map(|i| i > 0).collect();
            header(out, &head.iter().map(String::as_str).collect::<Vec<_>>(), &right);
            for (metric, by_method) in &s.gaps {
                let mut cells = vec![md(metric)];
                cells.extend(methods.iter().map(|m| opt(by_method.get(*m).copied().flatten())));
                row(out, &cells);
            }
            out.push('\n');
        }
    }
}

fn worst(out: &mut String, model: &ModelReport) {
    out.push_str("### Worst slices\n\n");
    if model.worst_slices.is_empty() {
        out.push_str("No slice results to rank.\n\n");
        return;
    }
    header(
        out,
        &["Slicing", "Value", "n", "Metric", "Value [CI]", "Gap vs overall"],
        &[false, false, true, false, true, true],
    );
    for w in &model.worst_slices {
        row(
            out,
            &[
                md(&w.slicing),
                md(&w.value),
                count(Some(w.n as u64)),
                md(&w.metric),
                metric_text(&w.value_metric),
                short(w.gap),
            ],
        );
    }
    out.push('\n');
}

/// Class labels of a k×k confusion matrix.
pub(super) fn class_labels(k: usize) -> Vec<String> {
    if k == 2 { vec!["negative".into(), "positive".into()] } else { (0..k).map(|i| format!("class {i}")).collect() }
}

fn confusion(out: &mut String, overall: &SliceReport) {
    out.push_str("### Confusion matrix (overall)\n\n");
    let Some(m) = overall.confusion.as_ref().filter(|m| !m.is_empty()) else {
        out.push_str("No confusion matrix for this task.\n\n");
        return;
    };
    let labels = class_labels(m.len());
    let mut head = vec!["True \\ predicted".to_string()];
    head.extend(labels.iter().cloned());
    let right: Vec<bool> = (0..head.len()).map(|i| i > 0).collect();
    header(out, &head.iter().map(String::as_str).collect::<Vec<_>>(), &right);
    for (label, r) in labels.iter().zip(m) {
        let mut cells = vec![label.clone()];
        cells.extend(r.iter().map(|v| short(*v)));
        row(out, &cells);
    }
    out.push('\n');
}

fn errors(out: &mut String, overall: &SliceReport) {
    out.push_str("### Most confident errors (overall)\n\n");
    if overall.confident_errors.is_empty() {
        out.push_str("No errors listed.\n\n");
        return;
    }
    let mut columns: Vec<&str> = Vec::new();
    for e in &overall.confident_errors {
        for k in e.values.keys() {
            if !columns.contains(&k.as_str()) {
                columns.push(k);
            }
        }
    }
    let mut head = vec!["Row".to_string(), "Label".into(), "Predicted".into(), "Score".into()];
    head.extend(columns.iter().map(|c| md(c)));
    let right: Vec<bool> = (0..head.len()).map(|i| i == 0 || i == 3).collect();
    header(out, &head.iter().map(String::as_str).collect::<Vec<_>>(), &right);
    for e in &overall.confident_errors {
        let mut cells = vec![e.row.to_string(), md(&e.label), md(&e.predicted), num(e.score)];
        cells.extend(columns.iter().map(|c| e.values.get(*c).map_or_else(String::new, |v| md(v))));
        row(out, &cells);
    }
    out.push('\n');
}
