//! Gradual rollouts: a challenger version shadows the champion, then takes a growing canary
//! share of the traffic, and is promoted to `champion` or rolled back. The state lives in the
//! `rollouts` table (at most one active rollout per model, enforced by a unique index); every
//! move is a compare-and-set on the phase and step the caller read, so two controllers never
//! both move one rollout, and every move appends an audit event with its reason and the
//! figures that decided it, in the same transaction.

use std::fmt;
use std::str::FromStr;

use crate::db::{Db, DbRow, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditAction, NewAuditEvent, append, canonical_json};
use crate::error::{Error, Result};
use crate::registry::{alias_version, model_exists, move_alias, version_target, version_verdict};
use crate::store::{Fail, Store};
use crate::time::now_ms;

/// The alias a promotion moves.
pub const CHAMPION_ALIAS: &str = "champion";

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutPhase {
    /// The challenger scores a copy of every request; only the champion answers.
    Shadow,
    /// The challenger answers its share of the traffic.
    Canary,
    /// Ended: the challenger is the champion.
    Promoted,
    /// Ended: a check failed; the champion serves on.
    RolledBack,
    /// Ended by an operator; the champion serves on.
    Aborted,
}

impl RolloutPhase {
    pub const ALL: [RolloutPhase; 5] = [
        RolloutPhase::Shadow,
        RolloutPhase::Canary,
        RolloutPhase::Promoted,
        RolloutPhase::RolledBack,
        RolloutPhase::Aborted,
    ];

    /// The name stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutPhase::Shadow => "shadow",
            RolloutPhase::Canary => "canary",
            RolloutPhase::Promoted => "promoted",
            RolloutPhase::RolledBack => "rolled_back",
            RolloutPhase::Aborted => "aborted",
        }
    }

    /// Shadow or canary: the rollout is still going.
    pub fn is_active(self) -> bool {
        matches!(self, RolloutPhase::Shadow | RolloutPhase::Canary)
    }
}

impl fmt::Display for RolloutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RolloutPhase {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        RolloutPhase::ALL.into_iter().find(|phase| phase.as_str() == text).ok_or_else(|| Error::ParseFilter {
            what: "rollout phase",
            text: text.to_owned(),
            hint: "use shadow, canary, promoted, rolled_back or aborted",
        })
    }
}

/// A rollout as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollout {
    pub id: i64,
    pub name: String,
    /// The version `champion` pointed at when the rollout started.
    pub champion_version: i64,
    pub challenger_version: i64,
    pub phase: RolloutPhase,
    /// 0 in shadow; in canary, 1 + the index of the canary step.
    pub step: i64,
    /// The challenger's share of the traffic (0 to 1; 0 in shadow).
    pub share: f64,
    /// When the current phase and step began (unix ms).
    pub step_started_ms: i64,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    /// Why the last transition was made.
    pub reason: Option<String>,
    /// The rollout's plan (steps, minimums, limits) as the controller recorded it.
    pub plan: serde_json::Value,
    /// The figures that decided the last transition.
    pub figures: serde_json::Value,
}

/// A rollout to start, in shadow.
#[derive(Debug, Clone)]
pub struct NewRollout<'a> {
    pub name: &'a str,
    pub challenger_version: i64,
    pub plan: serde_json::Value,
    pub actor: &'a str,
    /// `Some(reason)` starts even a version whose acceptance verdict did not pass; the
    /// override is audited as `forced_override`.
    pub force: Option<&'a str>,
}

/// A compare-and-set move of a rollout: from the phase and step the caller read to the next.
#[derive(Debug, Clone)]
pub struct RolloutMove<'a> {
    pub id: i64,
    /// The phase and step the caller read; the move fails with [`Error::RolloutMoved`] when the
    /// rollout is no longer there.
    pub from_phase: RolloutPhase,
    pub from_step: i64,
    /// The phase to move to. [`Store::advance_rollout`] takes shadow or canary,
    /// [`Store::finish_rollout`] promoted, rolled back or aborted.
    pub to_phase: RolloutPhase,
    /// The step and share to move to (ignored when finishing).
    pub step: i64,
    pub share: f64,
    pub reason: &'a str,
    pub figures: serde_json::Value,
    pub actor: &'a str,
}

impl Store {
    /// Starts a rollout of `challenger_version` against the version `champion` points at now,
    /// in shadow. Refuses a model that already has an active rollout
    /// ([`Error::RolloutActive`]), a challenger that is the champion, and a version whose
    /// acceptance verdict did not pass unless `force` gives a reason.
    pub fn start_rollout(&self, new: &NewRollout<'_>) -> Result<Rollout> {
        let NewRollout { name, challenger_version, actor, force, .. } = *new;
        let reason = force.map(str::trim);
        if reason == Some("") {
            return Err(Error::MissingReason { name: name.to_owned(), version: challenger_version });
        }
        let now = now_ms();
        let id = self.write("start a rollout", |tx| {
            let (passed, verdict) = version_verdict(tx, name, challenger_version)?;
            let champion = alias_version(tx, name, CHAMPION_ALIAS)?
                .ok_or_else(|| Error::AliasNotFound { name: name.to_owned(), alias: CHAMPION_ALIAS.to_owned() })?;
            if champion == challenger_version {
                let problem = format!("v{champion} is the champion already");
                return Err(Error::InvalidRollout { name: name.to_owned(), problem }.into());
            }
            if let Some(active) = read_active(tx, name)? {
                return Err(Error::RolloutActive { name: name.to_owned(), id: active.id }.into());
            }
            let target = version_target(name, challenger_version);
            if !passed {
                if reason.is_none() {
                    let alias = CHAMPION_ALIAS.to_owned();
                    return Err(
                        Error::GateNotPassed { name: name.to_owned(), version: challenger_version, alias }.into()
                    );
                }
                let details = serde_json::json!({ "alias": CHAMPION_ALIAS, "verdict": verdict, "rollout": true });
                audit(tx, actor, AuditAction::ForcedOverride, &target, reason, details)?;
            }
            let id = tx.insert_returning(
                "INSERT INTO rollouts (name, champion_version, challenger_version, phase, step, share,
                    step_started_ms, started_ms, plan, figures, reason)
                 VALUES (?1, ?2, ?3, 'shadow', 0, 0.0, ?4, ?4, ?5, '{}', ?6)",
                params![name, champion, challenger_version, now, canonical_json(&new.plan), reason],
                "id",
            )?;
            let details = serde_json::json!({
                "rollout": id,
                "champion_version": champion,
                "challenger_version": challenger_version,
                "plan": new.plan,
            });
            audit(tx, actor, AuditAction::RolloutStart, &target, reason, details)?;
            Ok(id)
        })?;
        self.rollout(id)
    }

    /// Moves an active rollout to its next step: from shadow to canary, or to a larger canary
    /// step. A compare-and-set on `from_phase` and `from_step`.
    pub fn advance_rollout(&self, change: &RolloutMove<'_>) -> Result<Rollout> {
        self.write("advance a rollout", |tx| {
            let current = checked_current(tx, change)?;
            let forward = match change.to_phase {
                RolloutPhase::Canary => current.phase == RolloutPhase::Shadow || change.step > current.step,
                _ => false,
            };
            if !forward || !(0.0..=1.0).contains(&change.share) {
                let problem = format!(
                    "cannot move from {} step {} to {} step {} with share {}",
                    current.phase, current.step, change.to_phase, change.step, change.share
                );
                return Err(Error::InvalidRollout { name: current.name, problem }.into());
            }
            let changed = tx.execute(
                "UPDATE rollouts SET phase = ?1, step = ?2, share = ?3, step_started_ms = ?4, reason = ?5,
                    figures = ?6
                 WHERE id = ?7 AND phase = ?8 AND step = ?9",
                params![
                    change.to_phase.as_str(),
                    change.step,
                    change.share,
                    now_ms(),
                    change.reason,
                    canonical_json(&change.figures),
                    change.id,
                    change.from_phase.as_str(),
                    change.from_step
                ],
            )?;
            debug_assert_eq!(changed, 1, "checked_current read the row in this transaction");
            let details = serde_json::json!({
                "rollout": change.id,
                "from_phase": change.from_phase,
                "from_step": change.from_step,
                "phase": change.to_phase,
                "step": change.step,
                "share": change.share,
                "figures": change.figures,
            });
            let target = version_target(&current.name, current.challenger_version);
            audit(tx, change.actor, AuditAction::RolloutStep, &target, Some(change.reason), details)?;
            Ok(())
        })?;
        self.rollout(change.id)
    }

    /// Ends an active rollout. Promoted: alias `champion` moves to the challenger in the same
    /// transaction (recorded in the alias history with the reason). Rolled back or aborted:
    /// the champion is left as it is. A compare-and-set on `from_phase` and `from_step`.
    pub fn finish_rollout(&self, change: &RolloutMove<'_>) -> Result<Rollout> {
        if !matches!(change.to_phase, RolloutPhase::Promoted | RolloutPhase::RolledBack | RolloutPhase::Aborted) {
            let problem = format!("{} is not an end of a rollout", change.to_phase);
            return Err(Error::InvalidRollout { name: format!("rollout {}", change.id), problem });
        }
        self.write("finish a rollout", |tx| {
            let current = checked_current(tx, change)?;
            let now = now_ms();
            let share = if change.to_phase == RolloutPhase::Promoted { 1.0 } else { 0.0 };
            tx.execute(
                "UPDATE rollouts SET phase = ?1, share = ?2, ended_ms = ?3, reason = ?4, figures = ?5
                 WHERE id = ?6 AND phase = ?7 AND step = ?8",
                params![
                    change.to_phase.as_str(),
                    share,
                    now,
                    change.reason,
                    canonical_json(&change.figures),
                    change.id,
                    change.from_phase.as_str(),
                    change.from_step
                ],
            )?;
            let name = &current.name;
            let mut details = serde_json::json!({
                "rollout": change.id,
                "from_phase": change.from_phase,
                "from_step": change.from_step,
                "phase": change.to_phase,
                "champion_version": current.champion_version,
                "challenger_version": current.challenger_version,
                "figures": change.figures,
            });
            let action = if change.to_phase == RolloutPhase::Promoted {
                let from = alias_version(tx, name, CHAMPION_ALIAS)?;
                let to = current.challenger_version;
                move_alias(tx, name, CHAMPION_ALIAS, from, to, "promote", false, change.actor, Some(change.reason))?;
                details["alias"] = serde_json::json!(CHAMPION_ALIAS);
                details["from_version"] = serde_json::json!(from);
                details["to_version"] = serde_json::json!(to);
                AuditAction::RolloutPromote
            } else {
                AuditAction::RolloutRollback
            };
            let target = version_target(name, current.challenger_version);
            audit(tx, change.actor, action, &target, Some(change.reason), details)?;
            Ok(())
        })?;
        self.rollout(change.id)
    }

    /// One rollout by id.
    pub fn rollout(&self, id: i64) -> Result<Rollout> {
        self.read("read a rollout", |conn| {
            read_one(conn, id)?
                .ok_or_else(|| Error::RolloutNotFound { what: format!("no rollout with id {id}") }.into())
        })
    }

    /// The model's active (shadow or canary) rollout, if any.
    pub fn active_rollout(&self, name: &str) -> Result<Option<Rollout>> {
        self.read("read the active rollout", |conn| read_active(conn, name))
    }

    /// Every rollout of the model, oldest first.
    pub fn rollouts(&self, name: &str) -> Result<Vec<Rollout>> {
        self.read("list rollouts", |conn| {
            model_exists(conn, name)?;
            let rows: Vec<RawRollout> = conn.query_map(
                &format!("SELECT {COLUMNS} FROM rollouts WHERE name = ?1 ORDER BY id"),
                [name],
                read_row,
            )?;
            rows.into_iter().map(RawRollout::decode).collect()
        })
    }
}

fn audit(
    tx: &Db<'_>,
    actor: &str,
    action: AuditAction,
    target: &str,
    reason: Option<&str>,
    details: serde_json::Value,
) -> Result<(), Fail> {
    let event = NewAuditEvent {
        actor: actor.to_owned(),
        action,
        target: target.to_owned(),
        reason: reason.map(str::to_owned),
        details,
    };
    append(tx, &event).map(|_| ())
}

/// The rollout `change` moves, checked to be active and at the phase and step it expects.
fn checked_current(tx: &Db<'_>, change: &RolloutMove<'_>) -> Result<Rollout, Fail> {
    let current = read_one(tx, change.id)?
        .ok_or_else(|| Error::RolloutNotFound { what: format!("no rollout with id {}", change.id) })?;
    if current.phase != change.from_phase || current.step != change.from_step || !current.phase.is_active() {
        return Err(Error::RolloutMoved {
            id: change.id,
            expected_phase: change.from_phase.to_string(),
            expected_step: change.from_step,
            found_phase: current.phase.to_string(),
            found_step: current.step,
        }
        .into());
    }
    if change.reason.trim().is_empty() {
        let problem = "every move of a rollout needs a reason".to_owned();
        return Err(Error::InvalidRollout { name: current.name, problem }.into());
    }
    Ok(current)
}

const COLUMNS: &str = "id, name, champion_version, challenger_version, phase, step, share, step_started_ms, \
                       started_ms, ended_ms, reason, plan, figures";

fn read_one(conn: &Db<'_>, id: i64) -> Result<Option<Rollout>, Fail> {
    let raw = conn.query_row(&format!("SELECT {COLUMNS} FROM rollouts WHERE id = ?1"), [id], read_row).optional()?;
    raw.map(RawRollout::decode).transpose()
}

fn read_active(conn: &Db<'_>, name: &str) -> Result<Option<Rollout>, Fail> {
    let raw = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM rollouts WHERE name = ?1 AND phase IN ('shadow', 'canary')"),
            [name],
            read_row,
        )
        .optional()?;
    raw.map(RawRollout::decode).transpose()
}

/// A row as stored, before its phase and JSON are decoded.
struct RawRollout {
    rollout: Rollout,
    phase: String,
    plan: String,
    figures: String,
}

fn read_row(row: &DbRow) -> Result<RawRollout, Fail> {
    Ok(RawRollout {
        rollout: Rollout {
            id: row.get(0)?,
            name: row.get(1)?,
            champion_version: row.get(2)?,
            challenger_version: row.get(3)?,
            phase: RolloutPhase::Shadow,
            step: row.get(5)?,
            share: row.get(6)?,
            step_started_ms: row.get(7)?,
            started_ms: row.get(8)?,
            ended_ms: row.get(9)?,
            reason: row.get(10)?,
            plan: serde_json::Value::Null,
            figures: serde_json::Value::Null,
        },
        phase: row.get(4)?,
        plan: row.get(11)?,
        figures: row.get(12)?,
    })
}

impl RawRollout {
    fn decode(self) -> Result<Rollout, Fail> {
        let id = format!("rollout {}", self.rollout.id);
        let json = |what: &'static str, text: &str| {
            serde_json::from_str(text).map_err(|source| Error::DecodeJson { what, id: id.clone(), source })
        };
        let phase = self.phase.parse().map_err(|_| Error::InvalidRollout {
            name: self.rollout.name.clone(),
            problem: format!("unknown phase {:?} stored for {id}", self.phase),
        })?;
        Ok(Rollout {
            phase,
            plan: json("rollout plan", &self.plan)?,
            figures: json("rollout figures", &self.figures)?,
            ..self.rollout
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_read_back_from_their_names() {
        for phase in RolloutPhase::ALL {
            assert_eq!(phase.as_str().parse::<RolloutPhase>().expect("parse"), phase);
            assert_eq!(serde_json::to_value(phase).expect("json"), serde_json::json!(phase.as_str()));
        }
        assert!("paused".parse::<RolloutPhase>().is_err());
        let active: Vec<_> = RolloutPhase::ALL.into_iter().filter(|p| p.is_active()).collect();
        assert_eq!(active, [RolloutPhase::Shadow, RolloutPhase::Canary]);
    }
}
