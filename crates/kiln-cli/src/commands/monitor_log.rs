//! The rows a served model answered, read from the prediction log for `kiln monitor --log`:
//! primary and canary rows of the version the model reference names now, with their times,
//! the model's logged scores and, where the label store has them, their labels (as the target
//! column, so that realised metrics are computed per window and segment).

use std::path::Path;
use std::time::Duration;

use kiln_core::bundle::Bundle;
use kiln_core::columns::Values;
use kiln_core::schema::{DType, Schema, Task};
use kiln_monitor::report::Source;
use kiln_pipeline::feedback::{LogQuery, labelled_rows};
use kiln_pipeline::monitor::CurrentRows;

use super::monitor::resolve;

/// The rows of `model` (NAME@ALIAS or NAME@vN) in the log folder `log`, logged in the last
/// `since` when given, with their stored labels.
pub fn read(log: &Path, model: &str, store: &Path, since: Option<Duration>) -> anyhow::Result<CurrentRows> {
    let (version, bundle_path) = resolve(model, store)?;
    let bundle = Bundle::read(&bundle_path)?;
    let schema = &bundle.manifest.schema;
    let score_column = match schema.task {
        Task::Binary => format!("p_{}", schema.classes.get(1).map_or("1", String::as_str)),
        _ => "predicted".to_string(),
    };
    let name = model.split('@').next().unwrap_or(model);
    let since_ms = since.map(|d| kiln_track::now_ms() - d.as_millis() as i64);
    let query = LogQuery {
        log_dir: log,
        model: name,
        versions: Some(&[version]),
        routes: &["primary", "canary"],
        since_ms,
        until_ms: None,
        labelled_only: false,
    };
    let mut rows = labelled_rows(&query, &score_column)?;
    let n_labelled = rows.n_labelled();
    if n_labelled > 0 {
        let target = target_values(schema, &rows.labels);
        rows.inputs.columns.retain(|(name, _)| name != &schema.target);
        rows.inputs.columns.push((schema.target.clone(), target));
    }
    let df = kiln_data::batch::batch_frame(&rows.inputs)?;
    let n = rows.len() as u64;
    let scores = (schema.task != Task::Multiclass).then_some(rows.scores);
    Ok(CurrentRows {
        source: Source {
            kind: "log".into(),
            name: format!(
                "{} ({model} v{version}, {} segments, {n_labelled} labelled rows)",
                log.display(),
                rows.segments.len()
            ),
            rows: n,
        },
        df,
        scores,
        times: Some(rows.times_ms),
    })
}

/// Stored labels (text) as the target column's type; a row without a label is missing.
fn target_values(schema: &Schema, labels: &[Option<String>]) -> Values {
    let dtype = schema.column(&schema.target).map_or(DType::String, |c| c.dtype);
    match dtype {
        DType::Int => Values::Int(labels.iter().map(|l| trimmed(l).and_then(|l| l.parse().ok())).collect()),
        DType::Float => Values::Float(labels.iter().map(|l| trimmed(l).and_then(|l| l.parse().ok())).collect()),
        DType::Bool => Values::Bool(labels.iter().map(|l| trimmed(l).and_then(|l| l.parse().ok())).collect()),
        DType::String => Values::Text(labels.to_vec()),
    }
}

fn trimmed(label: &Option<String>) -> Option<&str> {
    label.as_deref().map(str::trim)
}
