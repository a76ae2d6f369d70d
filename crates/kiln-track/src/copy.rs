//! Copying a whole store into an empty one, across backends (SQLite to PostgreSQL or back):
//! every table row for row (the audit log with its hashes, the alias history with its
//! sequence numbers), in one write transaction on the target, then a check that the copy
//! matches: row counts per table, the target's audit chain verifying, and the same last hash.

use serde::Serialize;

use crate::db::{Db, Dialect, Value};
use crate::error::{Error, Result};
use crate::schema::{TABLES, Table};
use crate::store::{Fail, Store};

/// Rows read from the source per query.
const CHUNK: i64 = 5_000;

/// What a copy moved, and the checks it passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// Where it copied from and to (paths, or URLs without passwords).
    pub from: String,
    pub to: String,
    /// Rows per table, equal in source and target.
    pub tables: Vec<TableCount>,
    /// Events in the target's audit log; its chain verified.
    pub audit_events: usize,
    /// The last audit hash, equal in source and target.
    pub audit_head_hash: Option<String>,
}

/// Rows of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCount {
    pub table: String,
    pub rows: i64,
}

impl Store {
    /// Copies this store into `target`, which must hold no records, then checks the copy (see
    /// [`CopyReport`]). Nothing should record into either store meanwhile.
    ///
    /// Errors: [`Error::TargetNotEmpty`] naming the first table that holds rows,
    /// [`Error::CopyMismatch`] when the checks fail.
    pub fn copy_into(&self, target: &Store) -> Result<CopyReport> {
        let to = target.location().to_owned();
        if self.location() == to {
            return Err(Error::TargetNotEmpty { store: to, what: "it is the source store".to_owned() });
        }
        for (table, rows) in target.table_counts()? {
            if rows > 0 {
                return Err(Error::TargetNotEmpty { store: to, what: format!("{rows} rows in {table}") });
            }
        }
        target.write("copy a store", |db| {
            for table in TABLES {
                copy_table(self, db, table)?;
            }
            Ok(())
        })?;
        self.check_copy(target)
    }

    /// Rows per table, in schema order.
    pub fn table_counts(&self) -> Result<Vec<(String, i64)>> {
        self.read("count rows", |db| {
            TABLES
                .iter()
                .map(|table| {
                    let rows: i64 =
                        db.query_row(&format!("SELECT count(*) FROM {}", table.name), (), |row| row.get(0))?;
                    Ok((table.name.to_owned(), rows))
                })
                .collect()
        })
    }

    fn check_copy(&self, target: &Store) -> Result<CopyReport> {
        let to = target.location().to_owned();
        let mismatch = |problem: String| Error::CopyMismatch { store: to.clone(), problem };
        let source_counts = self.table_counts()?;
        let target_counts = target.table_counts()?;
        for ((table, want), (_, got)) in source_counts.iter().zip(&target_counts) {
            if want != got {
                return Err(mismatch(format!("{table} holds {got} rows, the source {want}")));
            }
        }
        let source_audit = self.verify_audit()?;
        let target_audit = target.verify_audit()?;
        if !target_audit.ok {
            return Err(mismatch(format!("its audit chain does not verify: {:?}", target_audit.issues)));
        }
        if source_audit.head_hash != target_audit.head_hash {
            return Err(mismatch(format!(
                "its last audit hash is {:?}, the source's {:?}",
                target_audit.head_hash, source_audit.head_hash
            )));
        }
        Ok(CopyReport {
            from: self.location().to_owned(),
            to,
            tables: target_counts.into_iter().map(|(table, rows)| TableCount { table, rows }).collect(),
            audit_events: target_audit.n_events,
            audit_head_hash: target_audit.head_hash,
        })
    }
}

/// Copies one table in chunks, in key order; on PostgreSQL the identity sequence then moves
/// past the copied keys.
fn copy_table(source: &Store, target: &Db<'_>, table: &Table) -> Result<(), Fail> {
    let columns = table.columns.join(", ");
    let select = format!("SELECT {columns} FROM {} ORDER BY {} LIMIT ? OFFSET ?", table.name, table.key.join(", "));
    // `latest_metrics` is also written by the trigger on `metrics`: the copied row replaces it.
    let insert = if table.name == "latest_metrics" {
        target.upsert_sql(table.name, table.columns, table.key)
    } else {
        let marks: Vec<String> = (1..=table.columns.len()).map(|i| format!("?{i}")).collect();
        format!("INSERT INTO {} ({columns}) VALUES ({})", table.name, marks.join(", "))
    };
    let width = table.columns.len();
    let mut offset = 0_i64;
    loop {
        let rows: Vec<Vec<Value>> = source.read("read a table to copy", |db| {
            db.query_map(&select, vec![Value::Integer(CHUNK), Value::Integer(offset)], |row| {
                Ok((0..width).map(|index| row.value(index)).collect())
            })
        })?;
        for row in &rows {
            target.execute(&insert, row.clone())?;
        }
        if rows.len() < usize::try_from(CHUNK).unwrap_or(usize::MAX) {
            break;
        }
        offset += CHUNK;
    }
    if let (Dialect::Postgres, Some(column)) = (target.dialect(), table.generated) {
        target.query_row(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{name}', '{column}'), coalesce(max({column}), 0) + 1, false)
                 FROM {name}",
                name = table.name
            ),
            (),
            |_| Ok(()),
        )?;
    }
    Ok(())
}
