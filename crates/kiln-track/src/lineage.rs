//! Lineage: from an alias, a model version or a run back to the data it came from. The chain
//! is alias move → model version → run → split → dataset snapshot (data, schema and split
//! hashes), plus the audit events that name any link of it. A retrained version's run names
//! the dataset it trained on (whose manifest lists the log segments, label files and original
//! data) and the version it retrained (params `retrain.parent`, `retrain.dataset`,
//! `retrain.dataset_hash`, `retrain.manifest`): the chain goes on through that parent, back to
//! the first version trained on the original data.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::audit::AuditEvent;
use crate::error::{Error, Result};
use crate::provenance::GitInfo;
use crate::registry::{AliasMove, ModelVersion, version_target};
use crate::runs::{DataVersions, RunId, RunStatus};
use crate::store::Store;

/// What `kiln lineage` starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineageTarget {
    /// `NAME@ALIAS`, e.g. `churn@champion`.
    Alias { name: String, alias: String },
    /// `NAME@vN` or `NAME:N`.
    Version { name: String, version: i64 },
    /// A run id or unique id prefix.
    Run(String),
}

/// The run at the middle of a lineage chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineageRun {
    pub id: RunId,
    pub name: String,
    pub command: String,
    pub status: RunStatus,
    pub started_at: String,
    pub config_hash: String,
    pub git: Option<GitInfo>,
    pub seed: Option<u64>,
    pub device: Option<String>,
    pub kiln_version: String,
}

/// Run parameters naming what a retraining started from.
pub const PARENT_PARAM: &str = "retrain.parent";
pub const DATASET_PARAM: &str = "retrain.dataset";
pub const DATASET_HASH_PARAM: &str = "retrain.dataset_hash";
pub const MANIFEST_PARAM: &str = "retrain.manifest";

/// Chains longer than this stop (a registry edited by hand could loop).
const MAX_DEPTH: usize = 256;

/// How a retrained version's run got its data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrainLink {
    /// `NAME@vN` of the version it retrained.
    pub parent: String,
    /// The dataset it trained on.
    pub dataset: Option<String>,
    pub dataset_hash: Option<String>,
    /// The dataset's manifest file.
    pub manifest_path: Option<String>,
    /// The manifest (`kiln.dataset.v1`: original data, log segments and label files with
    /// their hashes), when the file can still be read.
    pub manifest: Option<serde_json::Value>,
}

/// The chain from a target back to its data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lineage {
    /// The target as given.
    pub target: String,
    /// For an alias target: the move that put the alias on its version.
    pub alias_move: Option<AliasMove>,
    /// For an alias or version target: the version.
    pub model_version: Option<ModelVersion>,
    pub run: LineageRun,
    /// Split, schema and dataset snapshot hashes the run read.
    pub data: DataVersions,
    /// Audit events whose target is the version, the run, or one of the data hashes.
    pub events: Vec<AuditEvent>,
    /// For a retrained version: its dataset and the version it retrained.
    pub retrain: Option<RetrainLink>,
    /// The lineage of the version it retrained, back to the original data.
    pub parent: Option<Box<Lineage>>,
}

impl fmt::Display for LineageTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineageTarget::Alias { name, alias } => write!(f, "{name}@{alias}"),
            LineageTarget::Version { name, version } => write!(f, "{name}@v{version}"),
            LineageTarget::Run(id) => f.write_str(id),
        }
    }
}

impl FromStr for LineageTarget {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        let err = || Error::ParseTarget { target: text.to_owned() };
        let version_number = |digits: &str| -> Option<i64> {
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        };
        if let Some((name, rest)) = text.split_once('@') {
            if name.is_empty() || rest.is_empty() || rest.contains(['@', ':']) {
                return Err(err());
            }
            if let Some(version) = rest.strip_prefix('v').and_then(version_number) {
                return Ok(LineageTarget::Version { name: name.to_owned(), version });
            }
            return Ok(LineageTarget::Alias { name: name.to_owned(), alias: rest.to_owned() });
        }
        if let Some((name, rest)) = text.split_once(':') {
            let version = version_number(rest).ok_or_else(err)?;
            if name.is_empty() {
                return Err(err());
            }
            return Ok(LineageTarget::Version { name: name.to_owned(), version });
        }
        if text.is_empty() || text.contains(char::is_whitespace) {
            return Err(err());
        }
        Ok(LineageTarget::Run(text.to_owned()))
    }
}

impl Store {
    /// Follows `target` (`NAME@ALIAS`, `NAME@vN`, `NAME:N` or a run id) back to its data.
    pub fn lineage(&self, target: &str) -> Result<Lineage> {
        let mut chain = vec![self.one_lineage(target)?];
        while let Some(link) = chain.last().and_then(|l| l.retrain.as_ref()) {
            if chain.len() >= MAX_DEPTH {
                break;
            }
            let parent = self.one_lineage(&link.parent)?;
            if chain.iter().any(|l| l.run.id == parent.run.id) {
                break;
            }
            chain.push(parent);
        }
        let mut parent: Option<Box<Lineage>> = None;
        while let Some(mut lineage) = chain.pop() {
            lineage.parent = parent;
            parent = Some(Box::new(lineage));
        }
        Ok(*parent.expect("the chain holds the target"))
    }

    /// One link of the chain: `target` back to its run and data.
    fn one_lineage(&self, target: &str) -> Result<Lineage> {
        let parsed: LineageTarget = target.parse()?;
        let (alias_move, model_version, run_id) = match &parsed {
            LineageTarget::Alias { name, alias } => {
                let version = self.resolve_alias(name, alias)?;
                let run_id = version.run_id.to_string();
                (self.current_alias_move(name, alias)?, Some(version), run_id)
            }
            LineageTarget::Version { name, version } => {
                let version = self.model_version(name, *version)?;
                let run_id = version.run_id.to_string();
                (None, Some(version), run_id)
            }
            LineageTarget::Run(prefix) => (None, None, prefix.clone()),
        };
        let detail = self.show_run(&run_id)?;
        let mut targets = vec![detail.id.to_string()];
        if let Some(version) = &model_version {
            targets.push(version_target(&version.name, version.version));
        }
        targets.extend(
            [&detail.data.data_hash, &detail.data.schema_hash, &detail.data.split_hash].into_iter().flatten().cloned(),
        );
        let events = self.audit_for_targets(&targets)?;
        let retrain = retrain_link(&detail.params);
        Ok(Lineage {
            target: parsed.to_string(),
            alias_move,
            model_version,
            run: LineageRun {
                id: detail.id,
                name: detail.name,
                command: detail.command,
                status: detail.status,
                started_at: detail.started_at,
                config_hash: detail.config_hash,
                git: detail.git,
                seed: detail.seed,
                device: detail.device,
                kiln_version: detail.kiln_version,
            },
            data: detail.data,
            events,
            retrain,
            parent: None,
        })
    }
}

/// The retraining params of a run, with its dataset manifest read from disk.
fn retrain_link(params: &std::collections::BTreeMap<String, String>) -> Option<RetrainLink> {
    let parent = params.get(PARENT_PARAM)?.clone();
    let manifest_path = params.get(MANIFEST_PARAM).cloned();
    let manifest = manifest_path
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str(&text).ok());
    Some(RetrainLink {
        parent,
        dataset: params.get(DATASET_PARAM).cloned(),
        dataset_hash: params.get(DATASET_HASH_PARAM).cloned(),
        manifest_path,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_target_form() {
        let parse = |text: &str| text.parse::<LineageTarget>();
        assert_eq!(
            parse("churn@champion").expect("alias"),
            LineageTarget::Alias { name: "churn".to_owned(), alias: "champion".to_owned() }
        );
        let v3 = LineageTarget::Version { name: "churn".to_owned(), version: 3 };
        assert_eq!(parse("churn@v3").expect("version"), v3);
        assert_eq!(parse("churn:3").expect("version"), v3);
        assert_eq!(
            parse("20260507-101500123-3fa9c2").expect("run"),
            LineageTarget::Run("20260507-101500123-3fa9c2".to_owned())
        );
        for bad in ["", "@x", "churn@", "churn:", "churn:v3", "churn:-1", "a@b@c", "a b"] {
            assert!(matches!(parse(bad), Err(Error::ParseTarget { .. })), "{bad}");
        }
    }
}
