//! Where a served model comes from: a registry reference (`adult@champion`, `adult@v3`) or a
//! bundle file, resolved to a version and loaded with its SHA-256 checked against the
//! registry, and the rules baseline a run exported beside its chosen model (the breaker's
//! fallback).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use kiln_core::bundle::{Bundle, FeatureReference, Manifest};
use kiln_core::model::Model;
use kiln_track::Store;
use serde::Deserialize;

use crate::error::{Error, Result};

/// A model to serve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// The version an alias points at now (followed when the alias moves).
    Alias { name: String, alias: String },
    /// One registered version.
    Version { name: String, version: i64 },
    /// A bundle file, outside the registry (version 0).
    File(PathBuf),
}

impl FromStr for Source {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let err = || Error::ModelRef { text: text.to_owned() };
        if text.ends_with(".safetensors") || text.contains(['/', '\\']) {
            return Ok(Source::File(PathBuf::from(text)));
        }
        let (name, rest) = text.split_once('@').ok_or_else(err)?;
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid(name) || !valid(rest) {
            return Err(err());
        }
        let digits = rest.strip_prefix('v').unwrap_or(rest);
        if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            let version = digits.parse().map_err(|_| err())?;
            return Ok(Source::Version { name: name.to_owned(), version });
        }
        Ok(Source::Alias { name: name.to_owned(), alias: rest.to_owned() })
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Alias { name, alias } => write!(f, "{name}@{alias}"),
            Source::Version { name, version } => write!(f, "{name}@v{version}"),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Source {
    /// The name a model of this source is served under when none is given: the registry
    /// name, or the file's stem.
    pub fn default_name(&self) -> String {
        match self {
            Source::Alias { name, .. } | Source::Version { name, .. } => name.clone(),
            Source::File(path) => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        }
    }
}

/// Where a source points now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The registry name (or the file's stem).
    pub name: String,
    /// The registry version (0 for a file).
    pub version: i64,
    pub path: PathBuf,
    /// The SHA-256 the registry recorded (none for a file).
    pub sha256: Option<String>,
    /// The run that trained it.
    pub run_id: Option<String>,
}

/// A model loaded and checked, ready to score.
#[derive(Debug)]
pub struct Loaded {
    pub resolved: Resolved,
    /// The SHA-256 of the bytes that were loaded.
    pub sha256: String,
    pub manifest: Manifest,
    pub model: Model,
    /// Training range (min, max) of each numeric feature, from the bundle's reference.
    pub ranges: HashMap<String, (f64, f64)>,
    /// The categories each categorical feature was trained on (the preprocessor's vocabulary).
    pub vocabularies: HashMap<String, HashSet<String>>,
    /// Columns never written to the prediction log.
    pub pii: Vec<String>,
}

impl Loaded {
    /// Load the bundle `resolved` names, checking its SHA-256 when the registry recorded one.
    pub fn load(reference: &str, resolved: Resolved) -> Result<Self> {
        let path = &resolved.path;
        let bytes = std::fs::read(path).map_err(|source| Error::ReadBundle {
            reference: reference.into(),
            path: path.clone(),
            source,
        })?;
        let sha256 = kiln_track::sha256_hex(&bytes);
        if let Some(expected) = &resolved.sha256
            && *expected != sha256
        {
            return Err(Error::Checksum {
                reference: reference.into(),
                path: path.clone(),
                expected: expected.clone(),
                found: sha256,
            });
        }
        let bad = |source| Error::Bundle { reference: reference.into(), path: path.clone(), source: Box::new(source) };
        let bundle = Bundle::from_bytes(&bytes, path).map_err(bad)?;
        let model = Model::from_bundle(&bundle).map_err(bad)?;
        let manifest = bundle.manifest;
        let ranges = manifest
            .reference
            .features
            .iter()
            .filter_map(|f| match f {
                FeatureReference::Numeric { name, edges, .. } if !edges.is_empty() => {
                    Some((name.clone(), (edges[0], edges[edges.len() - 1])))
                }
                _ => None,
            })
            .collect();
        let vocabularies = manifest
            .preprocessor
            .categorical
            .iter()
            .map(|c| (c.name.clone(), c.vocabulary.iter().cloned().collect()))
            .collect();
        let pii = manifest.schema.columns.iter().filter(|c| c.pii).map(|c| c.name.clone()).collect();
        Ok(Self { resolved, sha256, manifest, model, ranges, vocabularies, pii })
    }

    /// `NAME@vN` (or the file) of what was loaded.
    pub fn label(&self) -> String {
        if self.resolved.sha256.is_some() {
            format!("{}@v{}", self.resolved.name, self.resolved.version)
        } else {
            self.resolved.path.display().to_string()
        }
    }
}

/// The registry the sources are read from (opened only when a source needs it).
#[derive(Debug, Clone)]
pub struct Registry {
    path: PathBuf,
    store: Option<Store>,
}

impl Registry {
    /// The registry of the store at `path`, opened now when `needed`. A store that does not
    /// exist is an error (serving never creates one).
    pub fn open(path: &Path, needed: bool) -> Result<Self> {
        if !needed {
            return Ok(Self { path: path.to_path_buf(), store: None });
        }
        if !kiln_track::is_postgres_url(&path.to_string_lossy()) && !path.is_file() {
            return Err(Error::NoStore { path: path.to_path_buf() });
        }
        let store = Store::open(path).map_err(|e| Error::Store { path: path.to_path_buf(), source: Box::new(e) })?;
        Ok(Self { path: path.to_path_buf(), store: Some(store) })
    }

    /// Where `source` points now.
    pub fn resolve(&self, source: &Source) -> Result<Resolved> {
        let registry_error = |e| Error::Registry { reference: source.to_string(), source: Box::new(e) };
        let version = match source {
            Source::File(path) => {
                return Ok(Resolved {
                    name: source.default_name(),
                    version: 0,
                    path: path.clone(),
                    sha256: None,
                    run_id: None,
                });
            }
            Source::Alias { name, alias } => self.store()?.resolve_alias(name, alias).map_err(registry_error)?,
            Source::Version { name, version } => self.store()?.model_version(name, *version).map_err(registry_error)?,
        };
        Ok(Resolved {
            name: version.name,
            version: version.version,
            path: self.bundle_path(&version.bundle_path),
            sha256: Some(version.bundle_sha256),
            run_id: Some(version.run_id.to_string()),
        })
    }

    /// Resolve and load `source`.
    pub fn load(&self, source: &Source) -> Result<Arc<Loaded>> {
        let resolved = self.resolve(source)?;
        Ok(Arc::new(Loaded::load(&source.to_string(), resolved)?))
    }

    /// The rules baseline bundle that the run of `primary` exported beside it, if any.
    pub fn run_rules(&self, primary: &Loaded) -> Result<Option<Arc<Loaded>>> {
        let (Some(run_id), Some(store)) = (&primary.resolved.run_id, &self.store) else { return Ok(None) };
        let run = store
            .show_run(run_id)
            .map_err(|e| Error::Registry { reference: format!("run {run_id}"), source: Box::new(e) })?;
        for artifact in run.artifacts.iter().filter(|a| a.path.ends_with(".safetensors")) {
            let path = self.bundle_path(&artifact.path);
            if path == primary.resolved.path {
                continue;
            }
            let resolved = Resolved {
                name: format!("{}-rules", primary.resolved.name),
                version: primary.resolved.version,
                path,
                sha256: Some(artifact.sha256.clone()),
                run_id: Some(run_id.clone()),
            };
            let Ok(loaded) = Loaded::load(&format!("the rules baseline of run {run_id}"), resolved) else { continue };
            if loaded.model.kind() == "rules" {
                return Ok(Some(Arc::new(loaded)));
            }
        }
        Ok(None)
    }

    /// The active rollout of registry model `name`, if any.
    pub fn active_rollout(&self, name: &str) -> Result<Option<kiln_track::Rollout>> {
        self.store()?.active_rollout(name).map_err(|e| Error::Rollout { name: name.to_owned(), source: Box::new(e) })
    }

    fn store(&self) -> Result<&Store> {
        self.store.as_ref().ok_or_else(|| Error::Settings("no model store is open".into()))
    }

    /// A bundle path as the registry recorded it: relative paths are relative to the project
    /// folder (the one holding `.kiln/`), or to the current folder.
    fn bundle_path(&self, recorded: &str) -> PathBuf {
        let path = PathBuf::from(recorded);
        if path.is_absolute() || path.exists() {
            return path;
        }
        let project = self.path.parent().and_then(Path::parent).unwrap_or(Path::new("."));
        project.join(path)
    }
}
