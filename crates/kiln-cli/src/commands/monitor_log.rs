//! The rows a served model answered, read from the prediction log for `kiln monitor --log`:
//! primary and canary rows of the version the model reference names now, with their times and
//! the model's logged scores.

use std::path::Path;
use std::time::Duration;

use kiln_core::bundle::Bundle;
use kiln_core::schema::Task;
use kiln_monitor::report::Source;
use kiln_pipeline::monitor::CurrentRows;
use kiln_serve::predlog::read::read_rows;

use super::monitor::resolve;

/// The rows of `model` (NAME@ALIAS or NAME@vN) in the log folder `log`, logged in the last
/// `since` when given.
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
    let rows = read_rows(log, name, version, since_ms, &["primary", "canary"], &score_column)?;
    let df = kiln_data::batch::batch_frame(&rows.inputs)?;
    let n = rows.times_ms.len() as u64;
    let scores = (schema.task != Task::Multiclass).then_some(rows.scores);
    Ok(CurrentRows {
        source: Source {
            kind: "log".into(),
            name: format!("{} ({model} v{version}, {} segments)", log.display(), rows.segments.len()),
            rows: n,
        },
        df,
        scores,
        times: Some(rows.times_ms),
    })
}
