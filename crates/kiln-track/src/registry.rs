//! The model registry: immutable, numbered versions of each named model (tied to the run and
//! the bundle that produced them and to their acceptance verdict), aliases such as `champion`
//! that point at one version, promotion guarded by the verdict, rollback, and the full alias
//! history. Every change appends to the audit log in the same transaction.

use std::collections::BTreeMap;

use crate::db::{Db, DbRow, OptionalExtension, params};
use serde::Serialize;

use crate::audit::{AuditAction, NewAuditEvent, append, canonical_json};
use crate::error::{Error, Result};
use crate::runs::RunId;
use crate::store::{Fail, Store};
use crate::time::{format_rfc3339, now_ms};

/// A version to register.
#[derive(Debug, Clone)]
pub struct NewModelVersion {
    /// Model name: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The run that trained (or exported) it.
    pub run_id: RunId,
    /// Where the bundle was written.
    pub bundle_path: String,
    /// SHA-256 of the bundle file.
    pub bundle_sha256: String,
    /// Whether the acceptance gates passed.
    pub passed: bool,
    /// The full verdict of the acceptance gates.
    pub verdict: serde_json::Value,
    pub actor: String,
}

/// A registered, immutable model version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    pub run_id: RunId,
    pub bundle_path: String,
    pub bundle_sha256: String,
    pub passed: bool,
    pub verdict: serde_json::Value,
    pub actor: String,
    pub created_at: String,
    /// Aliases that point at this version now.
    pub aliases: Vec<String>,
}

/// One line of `models list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelSummary {
    pub name: String,
    pub n_versions: i64,
    pub latest_version: i64,
    /// Alias to the version it points at.
    pub aliases: BTreeMap<String, i64>,
    pub created_at: String,
}

/// One move of an alias, as kept in its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AliasMove {
    pub seq: i64,
    pub name: String,
    pub alias: String,
    /// The version the alias pointed at before (none when the alias was new).
    pub from_version: Option<i64>,
    pub to_version: i64,
    /// `promote` or `rollback`.
    pub action: String,
    /// True when the acceptance verdict was overridden.
    pub forced: bool,
    pub actor: String,
    pub reason: Option<String>,
    pub at: String,
}

/// A promotion request.
#[derive(Debug, Clone)]
pub struct Promotion<'a> {
    pub name: &'a str,
    pub version: i64,
    pub alias: &'a str,
    pub actor: &'a str,
    /// `Some(reason)` promotes even a version whose verdict did not pass; the override is
    /// written to the audit log as `forced_override`.
    pub force: Option<&'a str>,
}

impl Store {
    /// Registers the next version of model `name` (creating the model on its first version).
    pub fn register_model(&self, new: &NewModelVersion) -> Result<ModelVersion> {
        check_name("model", &new.name)?;
        let created_ms = now_ms();
        let verdict = canonical_json(&new.verdict);
        let version = self.write("register a model version", |tx| {
            let run_exists: bool =
                tx.query_row("SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1)", [new.run_id.as_str()], |row| {
                    row.get(0)
                })?;
            if !run_exists {
                return Err(Error::RunNotFound { id: new.run_id.to_string() }.into());
            }
            tx.execute(
                "INSERT INTO models (name, created_ms) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![new.name, created_ms],
            )?;
            let version: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE name = ?1",
                [&new.name],
                |row| row.get(0),
            )?;
            tx.execute(
                "INSERT INTO model_versions (name, version, run_id, bundle_path, bundle_sha256,
                    passed, verdict, actor, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    new.name,
                    version,
                    new.run_id.as_str(),
                    new.bundle_path,
                    new.bundle_sha256,
                    new.passed,
                    verdict,
                    new.actor,
                    created_ms
                ],
            )?;
            append(
                tx,
                &NewAuditEvent {
                    actor: new.actor.clone(),
                    action: AuditAction::Register,
                    target: version_target(&new.name, version),
                    reason: None,
                    details: serde_json::json!({
                        "run_id": new.run_id,
                        "bundle_path": new.bundle_path,
                        "bundle_sha256": new.bundle_sha256,
                        "passed": new.passed,
                    }),
                },
            )?;
            Ok(version)
        })?;
        self.model_version(&new.name, version)
    }

    /// Points `alias` at a version. Refuses ([`Error::GateNotPassed`]) a version whose verdict
    /// did not pass unless `force` gives a reason; a forced promotion is audited as
    /// `forced_override` as well as `promote`. Promoting the version the alias already holds
    /// changes nothing and returns the alias's last move.
    pub fn promote(&self, promotion: &Promotion<'_>) -> Result<AliasMove> {
        self.promote_because(promotion, None)
    }

    /// [`Store::promote`] with the reason and the figures that decided the move (a retraining's
    /// verdict), kept in the alias history and the audit event. A forced promotion's reason
    /// is the override's.
    pub fn promote_because(
        &self,
        promotion: &Promotion<'_>,
        because: Option<(&str, serde_json::Value)>,
    ) -> Result<AliasMove> {
        let Promotion { name, version, alias, actor, force } = *promotion;
        check_name("alias", alias)?;
        let forced_reason = force.map(str::trim);
        if forced_reason == Some("") {
            return Err(Error::MissingReason { name: name.to_owned(), version });
        }
        let (decided, figures) = match because {
            Some((reason, figures)) => (Some(reason), Some(figures)),
            None => (None, None),
        };
        let seq = self.write("promote a model version", |tx| {
            let (passed, verdict) = version_verdict(tx, name, version)?;
            let current = alias_version(tx, name, alias)?;
            if current == Some(version) {
                return last_move_seq(tx, name, alias);
            }
            let forced = !passed;
            let reason = if forced { forced_reason } else { decided.or(forced_reason) };
            if forced && forced_reason.is_none() {
                return Err(Error::GateNotPassed { name: name.to_owned(), version, alias: alias.to_owned() }.into());
            }
            let target = version_target(name, version);
            if forced {
                append(
                    tx,
                    &NewAuditEvent {
                        actor: actor.to_owned(),
                        action: AuditAction::ForcedOverride,
                        target: target.clone(),
                        reason: reason.map(str::to_owned),
                        details: serde_json::json!({ "alias": alias, "verdict": verdict }),
                    },
                )?;
            }
            let seq = move_alias(tx, name, alias, current, version, "promote", forced, actor, reason)?;
            let mut details = serde_json::json!({
                "alias": alias,
                "from_version": current,
                "to_version": version,
                "forced": forced,
            });
            if let Some(figures) = &figures {
                details["figures"] = figures.clone();
            }
            append(
                tx,
                &NewAuditEvent {
                    actor: actor.to_owned(),
                    action: AuditAction::Promote,
                    target,
                    reason: reason.map(str::to_owned),
                    details,
                },
            )?;
            Ok(seq)
        })?;
        self.alias_move(seq)
    }

    /// Moves `alias` back to the version it held before its last promotion that has not been
    /// rolled back already (so repeated rollbacks walk back through the promotions).
    pub fn rollback(&self, name: &str, alias: &str, actor: &str) -> Result<AliasMove> {
        let seq = self.write("roll back an alias", |tx| {
            model_exists(tx, name)?;
            let current = alias_version(tx, name, alias)?
                .ok_or_else(|| Error::AliasNotFound { name: name.to_owned(), alias: alias.to_owned() })?;
            let history = history(tx, name, Some(alias))?;
            let target = rollback_target(&history)
                .ok_or_else(|| Error::NothingToRollBack { name: name.to_owned(), alias: alias.to_owned() })?;
            let seq = move_alias(tx, name, alias, Some(current), target, "rollback", false, actor, None)?;
            append(
                tx,
                &NewAuditEvent {
                    actor: actor.to_owned(),
                    action: AuditAction::Rollback,
                    target: version_target(name, target),
                    reason: None,
                    details: serde_json::json!({
                        "alias": alias,
                        "from_version": current,
                        "to_version": target,
                    }),
                },
            )?;
            Ok(seq)
        })?;
        self.alias_move(seq)
    }

    /// Every move of the model's aliases (or of one alias), oldest first.
    pub fn alias_history(&self, name: &str, alias: Option<&str>) -> Result<Vec<AliasMove>> {
        self.read("read alias history", |conn| {
            model_exists(conn, name)?;
            history(conn, name, alias)
        })
    }

    /// All registered models, by name.
    pub fn list_models(&self) -> Result<Vec<ModelSummary>> {
        self.read("list models", |conn| {
            let mut models: Vec<ModelSummary> = conn.query_map(
                "SELECT m.name, m.created_ms, count(v.version), coalesce(max(v.version), 0)
                 FROM models m LEFT JOIN model_versions v ON v.name = m.name
                 GROUP BY m.name ORDER BY m.name",
                (),
                |row| {
                    Ok(ModelSummary {
                        name: row.get(0)?,
                        created_at: format_rfc3339(row.get(1)?),
                        n_versions: row.get(2)?,
                        latest_version: row.get(3)?,
                        aliases: BTreeMap::new(),
                    })
                },
            )?;
            for model in &mut models {
                model.aliases =
                    conn.query_map("SELECT alias, version FROM aliases WHERE name = ?1", [&model.name], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })?;
            }
            Ok(models)
        })
    }

    /// Every version of a model, oldest first.
    pub fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        self.read("list model versions", |conn| {
            model_exists(conn, name)?;
            let versions: Vec<i64> =
                conn.query_map("SELECT version FROM model_versions WHERE name = ?1 ORDER BY version", [name], |row| {
                    row.get(0)
                })?;
            versions.into_iter().map(|version| read_version(conn, name, version)).collect()
        })
    }

    /// One version of a model.
    pub fn model_version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        self.read("read a model version", |conn| read_version(conn, name, version))
    }

    /// The version an alias points at.
    pub fn resolve_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        self.read("resolve an alias", |conn| {
            model_exists(conn, name)?;
            let version = alias_version(conn, name, alias)?
                .ok_or_else(|| Error::AliasNotFound { name: name.to_owned(), alias: alias.to_owned() })?;
            read_version(conn, name, version)
        })
    }

    /// The latest move that put `alias` on its current version.
    pub(crate) fn current_alias_move(&self, name: &str, alias: &str) -> Result<Option<AliasMove>> {
        self.read("read alias history", |conn| Ok(history(conn, name, Some(alias))?.pop()))
    }

    fn alias_move(&self, seq: i64) -> Result<AliasMove> {
        self.read("read alias history", |conn| {
            conn.query_row(&format!("SELECT {MOVE_COLUMNS} FROM alias_history WHERE seq = ?1"), [seq], read_move)
        })
    }
}

/// `NAME@vN`, the audit target and lineage spelling of a version.
pub(crate) fn version_target(name: &str, version: i64) -> String {
    format!("{name}@v{version}")
}

/// Names may not hold the separators of lineage targets, and aliases may not look like a
/// version (`v3`).
fn check_name(what: &'static str, name: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let looks_like_version =
        name.strip_prefix('v').is_some_and(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()));
    if name.is_empty() || !name.chars().all(allowed) || (what == "alias" && looks_like_version) {
        return Err(Error::InvalidName { what, name: name.to_owned() });
    }
    Ok(())
}

/// Walks the alias's history back: each rollback cancels the latest promotion not yet
/// cancelled; the first promotion left standing is undone, to the version it replaced.
fn rollback_target(history: &[AliasMove]) -> Option<i64> {
    let mut cancelled = 0_usize;
    for entry in history.iter().rev() {
        if entry.action == "rollback" {
            cancelled += 1;
        } else if cancelled > 0 {
            cancelled -= 1;
        } else {
            return entry.from_version;
        }
    }
    None
}

pub(crate) fn model_exists(conn: &Db<'_>, name: &str) -> Result<(), Fail> {
    let exists: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM models WHERE name = ?1)", [name], |row| row.get(0))?;
    if exists { Ok(()) } else { Err(Error::ModelNotFound { name: name.to_owned() }.into()) }
}

pub(crate) fn version_verdict(conn: &Db<'_>, name: &str, version: i64) -> Result<(bool, serde_json::Value), Fail> {
    model_exists(conn, name)?;
    let row: Option<(bool, String)> = conn
        .query_row(
            "SELECT passed, verdict FROM model_versions WHERE name = ?1 AND version = ?2",
            params![name, version],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let (passed, verdict) = row.ok_or_else(|| Error::VersionNotFound { name: name.to_owned(), version })?;
    Ok((passed, decode_verdict(name, version, &verdict)?))
}

fn decode_verdict(name: &str, version: i64, text: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(text).map_err(|source| Error::DecodeJson {
        what: "verdict",
        id: version_target(name, version),
        source,
    })
}

pub(crate) fn alias_version(conn: &Db<'_>, name: &str, alias: &str) -> Result<Option<i64>, Fail> {
    conn.query_row("SELECT version FROM aliases WHERE name = ?1 AND alias = ?2", params![name, alias], |row| row.get(0))
        .optional()
}

fn last_move_seq(conn: &Db<'_>, name: &str, alias: &str) -> Result<i64, Fail> {
    conn.query_row("SELECT max(seq) FROM alias_history WHERE name = ?1 AND alias = ?2", params![name, alias], |row| {
        row.get(0)
    })
}

#[expect(clippy::too_many_arguments, reason = "one column each of an alias_history row")]
pub(crate) fn move_alias(
    tx: &Db<'_>,
    name: &str,
    alias: &str,
    from: Option<i64>,
    to: i64,
    action: &str,
    forced: bool,
    actor: &str,
    reason: Option<&str>,
) -> Result<i64, Fail> {
    let at_ms = now_ms();
    tx.execute(
        "INSERT INTO aliases (name, alias, version, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version,
            updated_ms = excluded.updated_ms",
        params![name, alias, to, at_ms],
    )?;
    tx.insert_returning(
        "INSERT INTO alias_history (name, alias, from_version, to_version, action, forced, actor,
            reason, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![name, alias, from, to, action, forced, actor, reason, at_ms],
        "seq",
    )
}

const MOVE_COLUMNS: &str = "seq, name, alias, from_version, to_version, action, forced, actor, reason, at_ms";

fn read_move(row: &DbRow) -> Result<AliasMove, Fail> {
    Ok(AliasMove {
        seq: row.get(0)?,
        name: row.get(1)?,
        alias: row.get(2)?,
        from_version: row.get(3)?,
        to_version: row.get(4)?,
        action: row.get(5)?,
        forced: row.get(6)?,
        actor: row.get(7)?,
        reason: row.get(8)?,
        at: format_rfc3339(row.get(9)?),
    })
}

fn history(conn: &Db<'_>, name: &str, alias: Option<&str>) -> Result<Vec<AliasMove>, Fail> {
    conn.query_map(
        &format!(
            "SELECT {MOVE_COLUMNS} FROM alias_history
             WHERE name = ?1 AND (CAST(?2 AS TEXT) IS NULL OR alias = ?2) ORDER BY seq"
        ),
        params![name, alias],
        read_move,
    )
}

fn read_version(conn: &Db<'_>, name: &str, version: i64) -> Result<ModelVersion, Fail> {
    model_exists(conn, name)?;
    let row = conn
        .query_row(
            "SELECT run_id, bundle_path, bundle_sha256, passed, verdict, actor, created_ms
             FROM model_versions WHERE name = ?1 AND version = ?2",
            params![name, version],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, bool>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, i64>(6)?,
                ))
            },
        )
        .optional()?;
    let (run_id, bundle_path, bundle_sha256, passed, verdict, actor, created_ms) =
        row.ok_or_else(|| Error::VersionNotFound { name: name.to_owned(), version })?;
    let aliases = conn.query_map(
        "SELECT alias FROM aliases WHERE name = ?1 AND version = ?2 ORDER BY alias",
        params![name, version],
        |row| row.get(0),
    )?;
    Ok(ModelVersion {
        name: name.to_owned(),
        version,
        run_id: RunId::new(run_id),
        bundle_path,
        bundle_sha256,
        passed,
        verdict: decode_verdict(name, version, &verdict)?,
        actor,
        created_at: format_rfc3339(created_ms),
        aliases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(action: &str, from: Option<i64>, to: i64) -> AliasMove {
        AliasMove {
            seq: 0,
            name: "m".to_owned(),
            alias: "champion".to_owned(),
            from_version: from,
            to_version: to,
            action: action.to_owned(),
            forced: false,
            actor: "a".to_owned(),
            reason: None,
            at: String::new(),
        }
    }

    #[test]
    fn rollbacks_walk_back_through_promotions() {
        let mut history = vec![step("promote", None, 1), step("promote", Some(1), 2), step("promote", Some(2), 3)];
        assert_eq!(rollback_target(&history), Some(2));
        history.push(step("rollback", Some(3), 2));
        assert_eq!(rollback_target(&history), Some(1));
        history.push(step("rollback", Some(2), 1));
        assert_eq!(rollback_target(&history), None);
        history.push(step("promote", Some(1), 4));
        assert_eq!(rollback_target(&history), Some(1));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("model", "churn-gbdt_2.1").is_ok());
        assert!(check_name("alias", "champion").is_ok());
        assert!(check_name("model", "v3").is_ok());
        for bad in ["", "a@b", "a:b", "a b", "ü"] {
            assert!(matches!(check_name("model", bad), Err(Error::InvalidName { .. })), "{bad}");
        }
        assert!(matches!(check_name("alias", "v3"), Err(Error::InvalidName { .. })));
    }
}
