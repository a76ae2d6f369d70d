//! The audit log: an append-only, hash-chained table of who did what to which target. Each row
//! stores the hash of the row before it and a SHA-256 over a canonical encoding of its own
//! fields; SQL triggers refuse UPDATE and DELETE, and [`Store::verify_audit`] finds rows that
//! were edited, inserted or deleted behind the triggers' back.

use std::fmt;
use std::str::FromStr;

use crate::db::{Db, DbRow, OptionalExtension, Value, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::hashing::hex;
use crate::store::{Fail, Store};
use crate::time::{format_rfc3339, now_ms};

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How far from its stored sequence number [`Store::verify_audit`] looks for the number a
/// renumbered row was hashed with.
const RENUMBER_WINDOW: i64 = 16;

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    DataRead,
    Validate,
    Snapshot,
    Split,
    Train,
    Evaluate,
    Compare,
    Export,
    Predict,
    Register,
    Promote,
    Rollback,
    /// A gate was overridden (a forced promotion); always carries a reason.
    ForcedOverride,
    /// Ground-truth labels were ingested for a served model (`kiln feedback ingest`).
    FeedbackIngest,
    /// A rollout of a challenger version began (in shadow).
    RolloutStart,
    /// A rollout moved to its next step (shadow to canary, or a larger canary share).
    RolloutStep,
    /// A rollout ended by promoting the challenger to `champion`.
    RolloutPromote,
    /// A rollout ended without promotion (its checks failed, or an operator aborted it).
    RolloutRollback,
}

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    /// Who acted ([`crate::default_actor`] when the caller has nothing better).
    pub actor: String,
    pub action: AuditAction,
    /// What it acted on: a run id, `NAME@vN`, a data hash, a path.
    pub target: String,
    pub reason: Option<String>,
    /// Free-form details; stored as JSON with sorted keys.
    pub details: serde_json::Value,
}

/// A row of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    pub seq: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    /// An [`AuditAction`] name (kept as text so that rows from newer versions still read).
    pub action: String,
    pub target: String,
    pub reason: Option<String>,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Which events `audit_log` returns (newest first).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<AuditAction>,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub limit: Option<usize>,
}

/// One problem [`Store::verify_audit`] found. Sequence numbers are as stored unless named
/// `original`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Tamper {
    /// The row's fields no longer match its hash.
    Edited { seq: i64 },
    /// The row was changed and its hash recomputed; the row after it (or the head) still links
    /// to the old hash.
    Rehashed { seq: i64 },
    /// Rows with these original sequence numbers are gone.
    Deleted { first_seq: i64, last_seq: i64 },
    /// The row was added to the chain after the fact.
    Inserted { seq: i64 },
    /// Rows exist but the head record that every append writes is gone.
    HeadMissing,
}

/// Result of checking the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// True when no tampering was found.
    pub ok: bool,
    pub n_events: usize,
    /// Sequence number and hash of the last event: record them elsewhere to anchor the chain.
    pub head_seq: Option<i64>,
    pub head_hash: Option<String>,
    pub issues: Vec<Tamper>,
}

impl AuditAction {
    /// Every action, in declaration order.
    pub const ALL: [AuditAction; 18] = [
        AuditAction::DataRead,
        AuditAction::Validate,
        AuditAction::Snapshot,
        AuditAction::Split,
        AuditAction::Train,
        AuditAction::Evaluate,
        AuditAction::Compare,
        AuditAction::Export,
        AuditAction::Predict,
        AuditAction::Register,
        AuditAction::Promote,
        AuditAction::Rollback,
        AuditAction::ForcedOverride,
        AuditAction::FeedbackIngest,
        AuditAction::RolloutStart,
        AuditAction::RolloutStep,
        AuditAction::RolloutPromote,
        AuditAction::RolloutRollback,
    ];

    /// The name stored in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::DataRead => "data_read",
            AuditAction::Validate => "validate",
            AuditAction::Snapshot => "snapshot",
            AuditAction::Split => "split",
            AuditAction::Train => "train",
            AuditAction::Evaluate => "evaluate",
            AuditAction::Compare => "compare",
            AuditAction::Export => "export",
            AuditAction::Predict => "predict",
            AuditAction::Register => "register",
            AuditAction::Promote => "promote",
            AuditAction::Rollback => "rollback",
            AuditAction::ForcedOverride => "forced_override",
            AuditAction::FeedbackIngest => "feedback_ingest",
            AuditAction::RolloutStart => "rollout_start",
            AuditAction::RolloutStep => "rollout_step",
            AuditAction::RolloutPromote => "rollout_promote",
            AuditAction::RolloutRollback => "rollout_rollback",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditAction {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        AuditAction::ALL.into_iter().find(|action| action.as_str() == text).ok_or_else(|| Error::ParseFilter {
            what: "audit action",
            text: text.to_owned(),
            hint: "use data_read, validate, snapshot, split, train, evaluate, compare, export, \
                       predict, register, promote, rollback, forced_override, feedback_ingest, rollout_start, \
                       rollout_step, rollout_promote or rollout_rollback",
        })
    }
}

impl Store {
    /// Appends an event to the audit log in its own transaction.
    pub fn append_audit(&self, event: &NewAuditEvent) -> Result<AuditEvent> {
        self.write("append to the audit log", |tx| append(tx, event))
    }

    /// Events matching `filter`, newest first.
    pub fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let mut wheres = vec!["1 = 1"];
        let mut values: Vec<Value> = Vec::new();
        if let Some(action) = filter.action {
            wheres.push("action = ?");
            values.push(Value::Text(action.as_str().to_owned()));
        }
        if let Some(actor) = &filter.actor {
            wheres.push("actor = ?");
            values.push(Value::Text(actor.clone()));
        }
        if let Some(target) = &filter.target {
            wheres.push("target = ?");
            values.push(Value::Text(target.clone()));
        }
        let limit = filter.limit.map_or(i64::MAX, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
        values.push(Value::Integer(limit));
        let sql = format!("SELECT {COLUMNS} FROM audit WHERE {} ORDER BY seq DESC LIMIT ?", wheres.join(" AND "));
        self.read("read the audit log", |conn| {
            let rows: Vec<Row> = conn.query_map(&sql, values, read_row)?;
            rows.into_iter().map(|row| row.into_event()).collect()
        })
    }

    /// Events whose target is one of `targets`, oldest first.
    pub(crate) fn audit_for_targets(&self, targets: &[String]) -> Result<Vec<AuditEvent>> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; targets.len()].join(", ");
        let sql = format!("SELECT {COLUMNS} FROM audit WHERE target IN ({marks}) ORDER BY seq");
        let values: Vec<Value> = targets.iter().map(Value::from).collect();
        self.read("read the audit log", |conn| {
            let rows: Vec<Row> = conn.query_map(&sql, values, read_row)?;
            rows.into_iter().map(|row| row.into_event()).collect()
        })
    }

    /// Re-computes every hash and link of the audit chain and reports each edited, rehashed,
    /// inserted or deleted row.
    pub fn verify_audit(&self) -> Result<AuditReport> {
        let (rows, head) = self.read("verify the audit log", |conn| {
            let rows: Vec<Row> = conn.query_map(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"), (), read_row)?;
            let head: Option<(i64, String)> = conn
                .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", (), |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            Ok((rows, head))
        })?;
        Ok(check_chain(&rows, head.as_ref()))
    }
}

/// Appends `event` inside the caller's (immediate) transaction, so that the chain stays linear
/// however many processes append at once.
pub(crate) fn append(tx: &Db<'_>, event: &NewAuditEvent) -> Result<AuditEvent, Fail> {
    let last: Option<(i64, String)> = tx
        .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", (), |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let at_ms = now_ms();
    let details = canonical_json(&event.details);
    let row = Row {
        seq,
        at_ms,
        actor: event.actor.clone(),
        action: event.action.as_str().to_owned(),
        target: event.target.clone(),
        reason: event.reason.clone(),
        details,
        prev_hash,
        hash: String::new(),
    };
    let hash = row.compute_hash(seq);
    tx.execute(
        "INSERT INTO audit (seq, at_ms, actor, action, target, reason, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![row.seq, row.at_ms, row.actor, row.action, row.target, row.reason, row.details, row.prev_hash, hash],
    )?;
    tx.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        params![seq, hash],
    )?;
    Row { hash, ..row }.into_event()
}

const COLUMNS: &str = "seq, at_ms, actor, action, target, reason, details, prev_hash, hash";

/// A raw audit row, as stored.
#[derive(Debug, Clone)]
struct Row {
    seq: i64,
    at_ms: i64,
    actor: String,
    action: String,
    target: String,
    reason: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

fn read_row(row: &DbRow) -> Result<Row, Fail> {
    Ok(Row {
        seq: row.get(0)?,
        at_ms: row.get(1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        target: row.get(4)?,
        reason: row.get(5)?,
        details: row.get(6)?,
        prev_hash: row.get(7)?,
        hash: row.get(8)?,
    })
}

impl Row {
    /// SHA-256 over a length-prefixed encoding of the fields, with `seq` as given (verify tries
    /// nearby numbers to recognise renumbered rows).
    fn compute_hash(&self, seq: i64) -> String {
        fn field(hasher: &mut Sha256, bytes: &[u8]) {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        }
        let mut hasher = Sha256::new();
        field(&mut hasher, b"kiln-audit-v1");
        hasher.update(seq.to_be_bytes());
        hasher.update(self.at_ms.to_be_bytes());
        field(&mut hasher, self.actor.as_bytes());
        field(&mut hasher, self.action.as_bytes());
        field(&mut hasher, self.target.as_bytes());
        match &self.reason {
            None => hasher.update([0]),
            Some(reason) => {
                hasher.update([1]);
                field(&mut hasher, reason.as_bytes());
            }
        }
        field(&mut hasher, self.details.as_bytes());
        field(&mut hasher, self.prev_hash.as_bytes());
        hex(&hasher.finalize())
    }

    /// The sequence number this row was hashed with: its own, the one implied by the current
    /// renumbering `offset`, or one nearby; `None` when its fields were changed.
    fn original_seq(&self, offset: i64) -> Option<i64> {
        let first_guesses = [self.seq - offset, self.seq];
        let nearby = (1..=RENUMBER_WINDOW).flat_map(|d| [self.seq - d, self.seq + d]);
        first_guesses.into_iter().chain(nearby).find(|&seq| self.compute_hash(seq) == self.hash)
    }

    fn into_event(self) -> Result<AuditEvent, Fail> {
        let details = serde_json::from_str(&self.details).map_err(|source| Error::DecodeJson {
            what: "audit details",
            id: format!("audit event {}", self.seq),
            source,
        })?;
        Ok(AuditEvent {
            seq: self.seq,
            at: format_rfc3339(self.at_ms),
            actor: self.actor,
            action: self.action,
            target: self.target,
            reason: self.reason,
            details,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Walks the chain in stored order. `expected` is the next original sequence number, `offset`
/// the shift between stored and original numbers that insertions or deletions left behind.
fn check_chain(rows: &[Row], head: Option<&(i64, String)>) -> AuditReport {
    let mut issues = Vec::new();
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut prev_seq: Option<i64> = None;
    let mut expected = 1_i64;
    let mut offset = 0_i64;
    // (stored seq, original seq) of rows accepted into the chain.
    let mut accepted: Vec<(i64, i64)> = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let next_prev = rows.get(index + 1).map(|next| next.prev_hash.as_str());
        // The chain goes on from this row's predecessor, past this row: it was slipped in.
        if next_prev == Some(prev_hash.as_str()) && row.hash != prev_hash {
            issues.push(Tamper::Inserted { seq: row.seq });
            offset += 1;
            continue;
        }
        let Some(original) = row.original_seq(offset) else {
            issues.push(Tamper::Edited { seq: row.seq });
            expected = row.seq - offset + 1;
            accepted.push((row.seq, row.seq - offset));
            prev_hash.clone_from(&row.hash);
            prev_seq = Some(row.seq);
            continue;
        };
        if original > expected {
            issues.push(Tamper::Deleted { first_seq: expected, last_seq: original - 1 });
        } else if original < expected {
            issues.push(Tamper::Inserted { seq: row.seq });
            continue;
        } else if row.prev_hash != prev_hash {
            issues.push(Tamper::Rehashed { seq: prev_seq.unwrap_or(row.seq) });
        }
        offset = row.seq - original;
        expected = original + 1;
        accepted.push((row.seq, original));
        prev_hash.clone_from(&row.hash);
        prev_seq = Some(row.seq);
    }
    let last_original = expected - 1;
    match head {
        None if !rows.is_empty() => issues.push(Tamper::HeadMissing),
        None => {}
        Some((head_seq, head_hash)) => {
            if *head_seq > last_original {
                issues.push(Tamper::Deleted { first_seq: last_original + 1, last_seq: *head_seq });
            } else if *head_seq < last_original {
                issues.extend(
                    accepted
                        .iter()
                        .filter(|(_, original)| original > head_seq)
                        .map(|&(seq, _)| Tamper::Inserted { seq }),
                );
            } else if *head_hash != prev_hash
                && let Some(seq) = prev_seq
                && !issues.contains(&Tamper::Edited { seq })
            {
                issues.push(Tamper::Rehashed { seq });
            }
        }
    }
    // A forged row at the tail fails its hash and also sits past the head: report it once.
    let inserted: Vec<i64> = issues
        .iter()
        .filter_map(|issue| match issue {
            Tamper::Inserted { seq } => Some(*seq),
            _ => None,
        })
        .collect();
    issues.retain(|issue| !matches!(issue, Tamper::Edited { seq } if inserted.contains(seq)));
    let last = rows.last();
    AuditReport {
        ok: issues.is_empty(),
        n_events: rows.len(),
        head_seq: last.map(|row| row.seq),
        head_hash: last.map(|row| row.hash.clone()),
        issues,
    }
}

/// JSON text with object keys sorted at every level, so equal details always hash equally.
pub(crate) fn canonical_json(value: &serde_json::Value) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(
                    entries.into_iter().map(|(key, value)| (key.clone(), sorted(value))).collect(),
                )
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::new();
        for seq in 1..=n {
            let prev_hash = rows.last().map_or_else(|| GENESIS_HASH.to_owned(), |row| row.hash.clone());
            let mut row = Row {
                seq,
                at_ms: 1_000 + seq,
                actor: "ana".to_owned(),
                action: "train".to_owned(),
                target: format!("run-{seq}"),
                reason: (seq % 2 == 0).then(|| "because".to_owned()),
                details: format!("{{\"n\":{seq}}}"),
                prev_hash,
                hash: String::new(),
            };
            row.hash = row.compute_hash(seq);
            rows.push(row);
        }
        rows
    }

    fn head(rows: &[Row]) -> (i64, String) {
        let last = rows.last().expect("rows");
        (last.seq, last.hash.clone())
    }

    #[test]
    fn intact_chain_verifies() {
        let rows = chain(8);
        let report = check_chain(&rows, Some(&head(&rows)));
        assert!(report.ok, "{report:?}");
        assert_eq!(report.n_events, 8);
        assert!(check_chain(&[], None).ok);
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let row = &chain(1)[0];
        let mut changed: Vec<Row> = Vec::new();
        for edit in 0..7 {
            let mut copy = row.clone();
            match edit {
                0 => copy.at_ms += 1,
                1 => copy.actor.push('x'),
                2 => copy.action.push('x'),
                3 => copy.target.push('x'),
                4 => copy.reason = Some(String::new()),
                5 => copy.details.push(' '),
                _ => copy.prev_hash.push('0'),
            }
            changed.push(copy);
        }
        for copy in changed {
            assert_ne!(copy.compute_hash(1), row.hash, "{copy:?}");
        }
        assert_ne!(row.compute_hash(2), row.hash);
    }

    #[test]
    fn insertion_with_renumbering_is_one_issue() {
        let rows = chain(6);
        let original_head = head(&rows);
        let mut forged = rows[3].clone();
        forged.target = "forged".to_owned();
        forged.prev_hash = rows[2].hash.clone();
        forged.hash = forged.compute_hash(4);
        let mut tampered: Vec<Row> = rows[..3].to_vec();
        tampered.push(forged);
        for row in &rows[3..] {
            tampered.push(Row { seq: row.seq + 1, ..row.clone() });
        }
        let report = check_chain(&tampered, Some(&original_head));
        assert_eq!(report.issues, vec![Tamper::Inserted { seq: 4 }]);
    }

    #[test]
    fn deletion_with_renumbering_is_found() {
        let rows = chain(6);
        let original_head = head(&rows);
        let mut tampered: Vec<Row> = rows[..2].to_vec();
        for row in &rows[3..] {
            tampered.push(Row { seq: row.seq - 1, ..row.clone() });
        }
        let report = check_chain(&tampered, Some(&original_head));
        assert_eq!(report.issues, vec![Tamper::Deleted { first_seq: 3, last_seq: 3 }]);
    }

    #[test]
    fn edits_with_and_without_rehash_are_told_apart() {
        let rows = chain(5);
        let original_head = head(&rows);
        let mut edited = rows.clone();
        edited[1].target = "changed".to_owned();
        let report = check_chain(&edited, Some(&original_head));
        assert_eq!(report.issues, vec![Tamper::Edited { seq: 2 }]);

        let mut rehashed = rows.clone();
        rehashed[1].target = "changed".to_owned();
        rehashed[1].hash = rehashed[1].compute_hash(2);
        let report = check_chain(&rehashed, Some(&original_head));
        assert_eq!(report.issues, vec![Tamper::Rehashed { seq: 2 }]);

        let mut last_rehashed = rows.clone();
        last_rehashed[4].actor = "mallory".to_owned();
        last_rehashed[4].hash = last_rehashed[4].compute_hash(5);
        let report = check_chain(&last_rehashed, Some(&original_head));
        assert_eq!(report.issues, vec![Tamper::Rehashed { seq: 5 }]);
        assert!(!report.ok);
    }

    #[test]
    fn truncated_tail_and_missing_head_are_found() {
        let rows = chain(5);
        let report = check_chain(&rows[..3], Some(&head(&rows)));
        assert_eq!(report.issues, vec![Tamper::Deleted { first_seq: 4, last_seq: 5 }]);
        let report = check_chain(&rows, None);
        assert_eq!(report.issues, vec![Tamper::HeadMissing]);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = serde_json::json!({"b": 1, "a": {"z": [ {"y": 1, "x": 2} ], "c": null}});
        assert_eq!(canonical_json(&value), r#"{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}"#);
    }
}
