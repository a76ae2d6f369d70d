//! `kiln lineage TARGET`: the chain from an alias, version or run back to its data, through
//! each retraining (the version's run, the dataset it trained on with the log segments and
//! label files it took, the version it retrained, ...) to the original data.

use std::io::Write;

use anyhow::Context;
use kiln_track::{AuditEvent, Lineage, Store};

use super::track::{events_table, git_text, opt, short, when};
use crate::EXIT_OK;
use crate::output::{self, Format, Table};

pub(crate) fn lineage_cmd(store: &Store, target: &str, format: Format, out: &mut dyn Write) -> anyhow::Result<i32> {
    let lineage = store.lineage(target).with_context(|| format!("following the lineage of {target}"))?;
    let mut chain = Table::new(&["link", "value", "detail"]).titled(format!("lineage of {target}"));
    let mut events: Vec<AuditEvent> = Vec::new();
    let mut link = Some(&lineage);
    while let Some(l) = link {
        push_version(&mut chain, l);
        push_retraining(&mut chain, l);
        for event in &l.events {
            if !events.iter().any(|e| e.seq == event.seq) {
                events.push(event.clone());
            }
        }
        link = l.parent.as_deref();
    }
    events.sort_by_key(|e| e.seq);
    let events = events_table(&events).titled("audit events on this chain");
    output::emit(out, format, &[chain, events], &lineage)?;
    Ok(EXIT_OK)
}

/// The alias move, version, run, config and data hashes of one link.
fn push_version(chain: &mut Table, lineage: &Lineage) {
    if let Some(moved) = &lineage.alias_move {
        chain.push(vec![
            "alias".to_owned(),
            format!("{}@{}", moved.name, moved.alias),
            format!(
                "{} by {} at {}{}",
                moved.action,
                moved.actor,
                when(&moved.at),
                moved.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
            ),
        ]);
    }
    if let Some(version) = &lineage.model_version {
        chain.push(vec![
            "model version".to_owned(),
            format!("{}@v{}", version.name, version.version),
            format!(
                "gate {}, bundle {} sha256 {}",
                if version.passed { "passed" } else { "failed" },
                version.bundle_path,
                short(&version.bundle_sha256)
            ),
        ]);
    }
    let run = &lineage.run;
    chain.push(vec![
        "run".to_owned(),
        run.id.to_string(),
        format!("{} {} ({}), started {}", run.command, run.name, run.status, when(&run.started_at)),
    ]);
    chain.push(vec!["config".to_owned(), short(&run.config_hash), git_text(run.git.as_ref())]);
    for (link, hash) in [
        ("split", &lineage.data.split_hash),
        ("schema", &lineage.data.schema_hash),
        ("data snapshot", &lineage.data.data_hash),
    ] {
        chain.push(vec![link.to_owned(), opt(hash.as_deref()), String::new()]);
    }
}

/// For a retrained version: its dataset, what the dataset took, and the version retrained.
fn push_retraining(chain: &mut Table, lineage: &Lineage) {
    let Some(retrain) = &lineage.retrain else { return };
    let manifest = retrain.manifest.as_ref();
    let field = |key: &str| manifest.and_then(|m| m.get(key)).map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    chain.push(vec![
        "dataset".to_owned(),
        opt(retrain.dataset.as_deref()),
        format!(
            "hash {}, {} rows: {} logged rows added, {} held out to judge, {} copies dropped",
            retrain.dataset_hash.as_deref().map(short).unwrap_or_else(|| "-".into()),
            field("rows"),
            field("rows_added"),
            field("judge_rows"),
            field("rows_deduplicated")
        ),
    ]);
    if let Some(original) = manifest.and_then(|m| m.get("original")) {
        let text = |key: &str| original.get(key).and_then(|v| v.as_str()).unwrap_or("-").to_owned();
        chain.push(vec![
            "original data".to_owned(),
            text("path"),
            format!(
                "hash {}, {} rows",
                short(&text("hash")),
                original.get("rows").map_or("-".into(), |v| v.to_string())
            ),
        ]);
    }
    for (link, key) in [("log segment", "segments"), ("label file", "label_files")] {
        let files = manifest.and_then(|m| m.get(key)).and_then(|v| v.as_array()).cloned().unwrap_or_default();
        for file in files {
            let text = |key: &str| file.get(key).and_then(|v| v.as_str()).unwrap_or("-").to_owned();
            chain.push(vec![link.to_owned(), text("path"), format!("sha256 {}", short(&text("sha256")))]);
        }
    }
    if manifest.is_none() {
        chain.push(vec!["manifest".to_owned(), opt(retrain.manifest_path.as_deref()), "cannot be read".to_owned()]);
    }
    chain.push(vec!["retrained from".to_owned(), retrain.parent.clone(), String::new()]);
}
