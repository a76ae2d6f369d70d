//! kiln's registered model versions into MLflow's model registry: one registered model per kiln
//! model name, one MLflow version per kiln version (found again by its `kiln.version` and
//! `kiln.run_id` tags, so exporting twice creates nothing new), its bundle's sha256 and gate
//! verdict as tags, and kiln's aliases pointed at it.

use std::collections::BTreeMap;

use kiln_track::{ModelVersion, Store};
use serde::Serialize;

use crate::client::{MlflowClient, MlflowRun, MlflowVersion};
use crate::error::Result;
use crate::export::{Action, BUNDLE_FOLDER, RUN_ID_TAG};

/// The tag that holds a model version's kiln version number in MLflow.
pub const VERSION_TAG: &str = "kiln.version";
/// Verdicts longer than this stay out of the version's tags (MLflow's tag limit).
const VERDICT_TAG_CHARS: usize = 5000;

/// One kiln model version in MLflow's registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionExport {
    pub name: String,
    /// kiln's version number.
    pub version: i64,
    /// MLflow's version number (equal to kiln's when MLflow held no earlier versions).
    pub mlflow_version: String,
    pub action: Action,
    /// kiln's aliases, now pointing at this version in MLflow too.
    pub aliases: Vec<String>,
}

/// The versions `NAME@vN` the exported runs `produced`, in name and version order, each
/// registered from its run's `bundle` folder in `mlflow_runs` (keyed by kiln run id).
pub(crate) fn export_versions(
    store: &Store,
    client: &MlflowClient,
    produced: &[String],
    mlflow_runs: &BTreeMap<String, MlflowRun>,
) -> Result<Vec<VersionExport>> {
    let mut wanted: Vec<(String, i64)> = produced
        .iter()
        .filter_map(|tag| match split_version_tag(tag) {
            (name, Some(version)) => Some((name.to_string(), version)),
            (_, None) => None,
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut known: BTreeMap<String, Vec<MlflowVersion>> = BTreeMap::new();
    let mut exported = Vec::with_capacity(wanted.len());
    for (name, version) in wanted {
        let kiln_version = store.model_version(&name, version)?;
        let Some(run) = mlflow_runs.get(kiln_version.run_id.as_str()) else { continue };
        if !known.contains_key(&name) {
            client.ensure_registered_model(&name)?;
            known.insert(name.clone(), client.model_versions(&name)?);
        }
        let existing = known.get(&name).and_then(|versions| find_version(versions, &kiln_version));
        let tags = version_tags(&kiln_version);
        let (mlflow_version, action) = match existing {
            Some(found) => {
                for (key, value) in &tags {
                    client.set_model_version_tag(&name, &found, key, value)?;
                }
                (found, Action::Updated)
            }
            None => {
                let source = format!("{}/{BUNDLE_FOLDER}", run.artifact_uri.trim_end_matches('/'));
                let description =
                    format!("kiln {name}@v{version}, gate {}", if kiln_version.passed { "passed" } else { "failed" });
                let created = client.create_model_version(&name, &source, &run.run_id, &description, &tags)?;
                (created, Action::Created)
            }
        };
        for alias in &kiln_version.aliases {
            client.set_alias(&name, alias, &mlflow_version)?;
        }
        tracing::info!(model = %name, version, mlflow_version = %mlflow_version, "exported a model version to MLflow");
        exported.push(VersionExport { name, version, mlflow_version, action, aliases: kiln_version.aliases.clone() });
    }
    Ok(exported)
}

/// `NAME@vN` (as runs list their model versions) into its name and number.
pub(crate) fn split_version_tag(tag: &str) -> (&str, Option<i64>) {
    match tag.rsplit_once("@v") {
        Some((name, number)) => (name, number.parse().ok()),
        None => (tag, None),
    }
}

/// kiln's record of a model version as MLflow tags.
pub fn version_tags(version: &ModelVersion) -> Vec<(String, String)> {
    let mut tags = vec![
        (VERSION_TAG.to_string(), version.version.to_string()),
        (RUN_ID_TAG.to_string(), version.run_id.to_string()),
        ("kiln.bundle_sha256".to_string(), version.bundle_sha256.clone()),
        ("kiln.bundle_path".to_string(), version.bundle_path.clone()),
        ("kiln.gate_passed".to_string(), version.passed.to_string()),
        ("kiln.actor".to_string(), version.actor.clone()),
    ];
    let verdict = version.verdict.to_string();
    if verdict.chars().count() <= VERDICT_TAG_CHARS {
        tags.push(("kiln.verdict".to_string(), verdict));
    }
    tags
}

/// The MLflow version carrying `version`'s kiln number and run.
fn find_version(versions: &[MlflowVersion], version: &ModelVersion) -> Option<String> {
    let number = version.version.to_string();
    let has = |found: &MlflowVersion, key: &str, value: &str| found.tags.iter().any(|(k, v)| k == key && v == value);
    versions
        .iter()
        .find(|found| has(found, VERSION_TAG, &number) && has(found, RUN_ID_TAG, version.run_id.as_str()))
        .map(|found| found.version.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_tags_split_at_the_last_at_v() {
        assert_eq!(split_version_tag("churn@v3"), ("churn", Some(3)));
        assert_eq!(split_version_tag("a@vb@v12"), ("a@vb", Some(12)));
        assert_eq!(split_version_tag("churn"), ("churn", None));
    }
}
