//! Whether a retraining should run: enough labels arrived since the champion was registered,
//! and (when asked) `kiln monitor`'s drift verdict on the recent log says the rows drifted.

use std::collections::HashSet;
use std::path::Path;

use kiln_core::bundle::Bundle;
use kiln_core::schema::Task;
use kiln_monitor::report::Source;

use crate::config::LoadedConfig;
use crate::error::Result;
use crate::feedback::LabelledRows;
use crate::monitor::{Against, CurrentRows, monitor};
use crate::progress::Progress;

/// Labelled `(request_id, row)` keys whose label became known after `since` (RFC 3339 UTC,
/// as the registry writes times; such texts order as their times do).
pub fn new_labels(rows: &LabelledRows, since: &str) -> usize {
    let mut keys = HashSet::new();
    for i in 0..rows.request_ids.len() {
        let known = rows.labelled_at_ms[i].map(kiln_track::format_rfc3339);
        if rows.labels[i].is_some() && known.is_some_and(|at| at.as_str() > since) {
            keys.insert((rows.request_ids[i].as_str(), rows.rows[i]));
        }
    }
    keys.len()
}

/// `kiln monitor`'s drift verdict on `rows` (the recent logged rows) against the champion's
/// bundle references.
pub fn drifted(
    config: &LoadedConfig,
    bundle: (&Bundle, &Path),
    rows: &LabelledRows,
    progress: &dyn Progress,
) -> Result<bool> {
    let plan = config.config.monitoring.plan()?;
    let (bundle, path) = bundle;
    let scores = (bundle.manifest.schema.task != Task::Multiclass).then(|| rows.scores.clone());
    let current = CurrentRows {
        source: Source { kind: "log".into(), name: "the recent prediction log".into(), rows: rows.len() as u64 },
        df: kiln_data::batch::batch_frame(&rows.inputs)?,
        scores,
        times: Some(rows.times_ms.clone()),
    };
    Ok(monitor(&Against::Bundle { bundle, path }, current, &plan, progress)?.drift)
}
