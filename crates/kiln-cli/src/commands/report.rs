//! Results of the pipeline as terminal tables: the comparison of evaluated models with their
//! failed checks, the report files, and the findings that refused the data.

use std::io::Write;
use std::path::{Path, PathBuf};

use kiln_data::findings::Severity;
use kiln_data::validate::ValidationReport;
use kiln_eval::gates::Status;
use kiln_eval::report::EvalReport;

use crate::output::{self, Format, Table, num};

/// Print why the data of `config` was refused (exit code 1 follows): every error finding.
pub fn refusal(out: &mut dyn Write, format: Format, config: &Path, report: &ValidationReport) -> anyhow::Result<()> {
    let mut t = Table::new(&["check", "file", "column", "count", "detail"]).titled(format!(
        "training refused: {} fails validation ({} error(s)); see `kiln data validate`",
        config.display(),
        report.n_errors()
    ));
    for f in report.findings.iter().filter(|f| f.severity == Severity::Error) {
        t.push(vec![
            f.check.as_str().into(),
            f.file.clone(),
            f.column.clone().unwrap_or_default(),
            f.count.to_string(),
            f.message.clone(),
        ]);
    }
    output::emit(out, format, &[t], report)?;
    Ok(())
}

/// The comparison table and, per model, its verdict's failures.
pub fn report_tables(report: &EvalReport) -> Vec<Table> {
    let primary = &report.primary_metric;
    let mut t = Table::new(&[
        "model",
        "kind",
        primary.as_str(),
        "95% CI",
        "lift",
        "p (DeLong/boot)",
        "train s",
        "p95 ms/row",
        "p95 ms/1024",
        "params",
        "verdict",
    ])
    .titled(format!("{}: {} rows of {}", report.project, report.n_rows, report.data));
    for (model, verdict) in report.models.iter().zip(&report.verdicts) {
        let value = model.overall_metric(primary);
        let cmp = report.comparisons.iter().find(|c| c.model == model.name);
        let opt = |v: Option<f64>, d: usize| v.map(|v| num(v, d)).unwrap_or_else(|| "-".into());
        t.push(vec![
            model.name.clone(),
            model.kind.clone(),
            opt(value.and_then(|v| v.value), 4),
            value.and_then(|v| v.ci).map(|c| format!("[{}, {}]", num(c.lo, 4), num(c.hi, 4))).unwrap_or_default(),
            cmp.map(|c| format!("{:+.4}", c.lift))
                .unwrap_or_else(|| if model.baseline { "baseline".into() } else { "-".into() }),
            cmp.and_then(|c| c.delong_p.or(c.bootstrap_p)).map(|p| format!("{p:.2e}")).unwrap_or_default(),
            opt(model.cost.train_seconds, 2),
            opt(model.cost.latency_p95_ms, 3),
            opt(model.cost.batch_latency_p95_ms, 2),
            model.cost.n_params.map(|p| p.to_string()).unwrap_or_default(),
            if verdict.passed { "pass".into() } else { format!("FAIL ({})", verdict.n_failed) },
        ]);
    }
    let mut tables = vec![t];
    let failures: Vec<_> = report.verdicts.iter().flat_map(|v| v.failures().map(move |c| (v, c))).collect();
    if !failures.is_empty() {
        let mut f = Table::new(&["model", "check", "slice", "value", "threshold", "decided by"])
            .titled("failed acceptance checks");
        for (v, c) in failures {
            f.push(vec![
                v.model.clone(),
                c.metric.clone(),
                c.slice.clone(),
                c.value.map(|x| num(x, 4)).unwrap_or_else(|| "undefined".into()),
                format!("{} {}", c.op, num(c.threshold, 4)),
                match c.decided_value {
                    Some(d) => format!("{} {}", decided_by(c.decided_by), num(d, 4)),
                    None => "-".into(),
                },
            ]);
        }
        tables.push(f);
    }
    debug_assert!(report.verdicts.iter().all(|v| v.checks.iter().all(|c| c.status != Status::Fail || !v.passed)));
    tables
}

fn decided_by(d: kiln_eval::gates::DecidedBy) -> &'static str {
    match d {
        kiln_eval::gates::DecidedBy::CiLower => "CI lower bound",
        kiln_eval::gates::DecidedBy::CiUpper => "CI upper bound",
        kiln_eval::gates::DecidedBy::Point => "point estimate",
    }
}

/// The report files written.
pub fn files_table(files: &[PathBuf]) -> Table {
    let mut t = Table::new(&["report file"]);
    for f in files {
        t.push(vec![f.display().to_string()]);
    }
    t
}
