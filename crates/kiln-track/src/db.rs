//! The one layer that knows which database holds the store: a connection to SQLite or to
//! PostgreSQL, the handle every query goes through inside a read or a write transaction
//! ([`Db`]), its parameter and row types ([`Value`], [`DbRow`]), the translation of `?N`
//! placeholders to PostgreSQL's `$N`, and the few statements whose spelling differs (upserts,
//! prefix matches, generated keys). Statements are prepared once per connection and cached.

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::error::Error;
use crate::store::Fail;

/// Which database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a placeholder or read from a column. Booleans are integers (0 or 1) in
/// both databases; a NaN is bound as NULL (SQLite stores NaN as NULL, PostgreSQL follows).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

/// What can be bound to a placeholder, by reference (as rusqlite's `ToSql`).
pub(crate) trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Integer(*self)
    }
}

impl ToValue for u32 {
    fn to_value(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        if self.is_nan() { Value::Null } else { Value::Real(*self) }
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue + ?Sized> From<&T> for Value {
    fn from(value: &T) -> Self {
        value.to_value()
    }
}

/// `params![a, b, c]`: the values bound to `?1`, `?2`, `?3` (each taken by reference).
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::db::ToValue::to_value(&$value)),*]
    };
}
pub(crate) use params;

/// What a statement's parameters can be given as.
pub(crate) trait IntoArgs {
    fn into_args(self) -> Vec<Value>;
}

impl IntoArgs for () {
    fn into_args(self) -> Vec<Value> {
        Vec::new()
    }
}

impl IntoArgs for Vec<Value> {
    fn into_args(self) -> Vec<Value> {
        self
    }
}

impl<T: ToValue, const N: usize> IntoArgs for [T; N] {
    fn into_args(self) -> Vec<Value> {
        self.iter().map(ToValue::to_value).collect()
    }
}

/// A column index (only `usize`, so that integer literals infer to it).
pub(crate) trait ColumnIndex {
    fn index(self) -> usize;
}

impl ColumnIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// A type a column can be read as.
pub(crate) trait FromValue: Sized {
    const NAME: &'static str;
    fn from_value(value: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    const NAME: &'static str = "an integer";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Integer(v) => Some(*v),
            _ => None,
        }
    }
}

impl FromValue for u32 {
    const NAME: &'static str = "a process id";
    fn from_value(value: &Value) -> Option<Self> {
        i64::from_value(value).and_then(|v| u32::try_from(v).ok())
    }
}

impl FromValue for bool {
    const NAME: &'static str = "a boolean";
    fn from_value(value: &Value) -> Option<Self> {
        i64::from_value(value).map(|v| v != 0)
    }
}

impl FromValue for f64 {
    const NAME: &'static str = "a number";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Real(v) => Some(*v),
            Value::Integer(v) => Some(*v as f64),
            _ => None,
        }
    }
}

impl FromValue for String {
    const NAME: &'static str = "text";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(v) => Some(v.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const NAME: &'static str = T::NAME;
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One row of a result, its columns already read into [`Value`]s.
#[derive(Debug)]
pub(crate) struct DbRow(Vec<Value>);

impl DbRow {
    /// Column `index` as it was read.
    pub(crate) fn value(&self, index: usize) -> Value {
        self.0.get(index).cloned().unwrap_or(Value::Null)
    }

    /// Column `index` as `T`; a NULL or a value of another type is an error naming the column.
    pub(crate) fn get<I: ColumnIndex, T: FromValue>(&self, index: I) -> Result<T, Fail> {
        let index = index.index();
        let value = self.0.get(index).unwrap_or(&Value::Null);
        T::from_value(value).ok_or_else(|| Fail::Column { index, expected: T::NAME, found: format!("{value:?}") })
    }
}

/// `.optional()` on a single-row query: no row is `None`.
pub(crate) trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>, Fail>;
}

impl<T> OptionalExtension<T> for Result<T, Fail> {
    fn optional(self) -> Result<Option<T>, Fail> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(Fail::NoRow) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

/// An open connection with its cache of prepared statements (PostgreSQL).
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

pub(crate) struct PgConn {
    pub(crate) client: postgres::Client,
    pub(crate) statements: HashMap<String, postgres::Statement>,
}

/// The handle a read or write closure queries through: a SQLite connection (inside its
/// transaction when writing) or a PostgreSQL transaction.
pub(crate) struct Db<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(RefCell<PgTx<'a>>),
}

pub(crate) struct PgTx<'a> {
    pub(crate) tx: postgres::Transaction<'a>,
    pub(crate) statements: &'a mut HashMap<String, postgres::Statement>,
}

impl<'a> Db<'a> {
    pub(crate) fn sqlite(conn: &'a rusqlite::Connection) -> Self {
        Db { inner: Inner::Sqlite(conn) }
    }

    pub(crate) fn postgres(tx: PgTx<'a>) -> Self {
        Db { inner: Inner::Postgres(RefCell::new(tx)) }
    }

    /// The PostgreSQL transaction back, to commit it.
    pub(crate) fn into_postgres(self) -> Option<postgres::Transaction<'a>> {
        match self.inner {
            Inner::Postgres(tx) => Some(tx.into_inner().tx),
            Inner::Sqlite(_) => None,
        }
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, args: impl IntoArgs) -> Result<usize, Fail> {
        let args = args.into_args();
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.prepare(sql)?.execute(rusqlite::params_from_iter(args))?),
            Inner::Postgres(cell) => {
                let mut pg = cell.borrow_mut();
                let statement = pg.prepare(sql)?;
                let changed = pg.tx.execute(&statement, &pg_args(&args))?;
                Ok(usize::try_from(changed).unwrap_or(usize::MAX))
            }
        }
    }

    /// Runs several `;`-separated statements without parameters.
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), Fail> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Inner::Postgres(cell) => Ok(cell.borrow_mut().tx.batch_execute(sql)?),
        }
    }

    /// Every row of a query, each mapped by `f`, collected.
    pub(crate) fn query_map<T, B: FromIterator<T>>(
        &self,
        sql: &str,
        args: impl IntoArgs,
        mut f: impl FnMut(&DbRow) -> Result<T, Fail>,
    ) -> Result<B, Fail> {
        self.rows(sql, args.into_args())?.iter().map(&mut f).collect()
    }

    /// The first row of a query mapped by `f`; [`Fail::NoRow`] when there is none (see
    /// [`OptionalExtension::optional`]).
    pub(crate) fn query_row<T>(
        &self,
        sql: &str,
        args: impl IntoArgs,
        f: impl FnOnce(&DbRow) -> Result<T, Fail>,
    ) -> Result<T, Fail> {
        let rows = self.rows(sql, args.into_args())?;
        f(rows.first().ok_or(Fail::NoRow)?)
    }

    /// Runs an `INSERT` and returns the generated value of `key` (an integer primary key).
    pub(crate) fn insert_returning(&self, sql: &str, args: impl IntoArgs, key: &str) -> Result<i64, Fail> {
        match &self.inner {
            Inner::Sqlite(conn) => {
                conn.prepare(sql)?.execute(rusqlite::params_from_iter(args.into_args()))?;
                Ok(conn.last_insert_rowid())
            }
            Inner::Postgres(_) => self.query_row(&format!("{sql} RETURNING {key}"), args, |row| row.get(0)),
        }
    }

    /// `INSERT` that replaces the row with the same `keys`: SQLite's `INSERT OR REPLACE`
    /// (which fires the insert triggers again), PostgreSQL's `ON CONFLICT ... DO UPDATE`.
    pub(crate) fn upsert_sql(&self, table: &str, columns: &[&str], keys: &[&str]) -> String {
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let (cols, marks) = (columns.join(", "), marks.join(", "));
        match self.dialect() {
            Dialect::Sqlite => format!("INSERT OR REPLACE INTO {table} ({cols}) VALUES ({marks})"),
            Dialect::Postgres => {
                let sets: Vec<String> = columns
                    .iter()
                    .filter(|column| !keys.contains(column))
                    .map(|column| format!("{column} = excluded.{column}"))
                    .collect();
                format!(
                    "INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT ({}) DO UPDATE SET {}",
                    keys.join(", "),
                    sets.join(", ")
                )
            }
        }
    }

    /// A condition `column starts with ?` and the value to bind to its placeholder (`prefix`
    /// holds only letters and digits: callers check).
    pub(crate) fn starts_with(&self, column: &str, prefix: &str) -> (String, Value) {
        match self.dialect() {
            Dialect::Sqlite => (format!("{column} GLOB ?"), Value::Text(format!("{prefix}*"))),
            Dialect::Postgres => (format!("starts_with({column}, ?)"), Value::Text(prefix.to_owned())),
        }
    }

    fn rows(&self, sql: &str, args: Vec<Value>) -> Result<Vec<DbRow>, Fail> {
        match &self.inner {
            Inner::Sqlite(conn) => {
                let mut statement = conn.prepare(sql)?;
                let width = statement.column_count();
                let mut rows = statement.query(rusqlite::params_from_iter(args))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(DbRow((0..width).map(|i| sqlite_value(row, i)).collect::<Result<_, _>>()?));
                }
                Ok(out)
            }
            Inner::Postgres(cell) => {
                let mut pg = cell.borrow_mut();
                let statement = pg.prepare(sql)?;
                let rows = pg.tx.query(&statement, &pg_args(&args))?;
                rows.iter().map(pg_row).collect()
            }
        }
    }
}

impl PgTx<'_> {
    fn prepare(&mut self, sql: &str) -> Result<postgres::Statement, Fail> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(&translate_placeholders(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

fn sqlite_value(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Value> {
    use rusqlite::types::ValueRef;
    Ok(match row.get_ref(index)? {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Integer(v),
        ValueRef::Real(v) => Value::Real(v),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
    })
}

fn pg_row(row: &postgres::Row) -> Result<DbRow, Fail> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(index)?.map(Value::Integer)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(index)?.map(|v| Value::Integer(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(index)?.map(|v| Value::Integer(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(index)?.map(|v| Value::Integer(v.into()))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(index)?.map(Value::Real)
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(index)?.map(|v| Value::Real(v.into()))
        } else {
            row.try_get::<_, Option<String>>(index)?.map(Value::Text)
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(DbRow(values))
}

fn pg_args(args: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|value| value as &(dyn ToSql + Sync)).collect()
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
        }))
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(v) => {
                if *ty == Type::INT4 {
                    i32::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*v)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*v != 0).to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    (*v as f64).to_sql(ty, out)
                } else if *ty == Type::TEXT || *ty == Type::VARCHAR {
                    v.to_string().to_sql(ty, out)
                } else {
                    v.to_sql(ty, out)
                }
            }
            Value::Real(v) => {
                if *ty == Type::FLOAT4 {
                    (*v as f32).to_sql(ty, out)
                } else {
                    v.to_sql(ty, out)
                }
            }
            Value::Text(v) => v.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Rewrites SQLite placeholders for PostgreSQL: `?N` becomes `$N`, a bare `?` the next number.
/// Quoted text (`'...'`) is left alone.
pub(crate) fn translate_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 0_usize;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
            out.push(c);
        } else if c == '?' && !quoted {
            let mut digits = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                digits.push(d);
                chars.next();
            }
            if digits.is_empty() {
                next += 1;
                digits = next.to_string();
            }
            out.push('$');
            out.push_str(&digits);
        } else {
            out.push(c);
        }
    }
    out
}

/// Maps a PostgreSQL error (connecting or querying) to the store's error for `action`.
pub(crate) fn pg_error(store: &str, action: &'static str, source: postgres::Error) -> Error {
    Error::Postgres { store: store.to_owned(), action, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(translate_placeholders("SELECT ?1, ?2 WHERE a = ?1"), "SELECT $1, $2 WHERE a = $1");
        assert_eq!(translate_placeholders("a = ? AND b = ? LIMIT ?"), "a = $1 AND b = $2 LIMIT $3");
        assert_eq!(translate_placeholders("x = '?' AND y = ?"), "x = '?' AND y = $1");
    }

    #[test]
    fn nan_binds_as_null_and_options_as_their_value() {
        assert_eq!(f64::NAN.to_value(), Value::Null);
        assert_eq!(Some(3_i64).to_value(), Value::Integer(3));
        assert_eq!(None::<&str>.to_value(), Value::Null);
        assert_eq!(true.to_value(), Value::Integer(1));
    }

    #[test]
    fn columns_read_as_their_type_or_fail_naming_the_column() {
        let row = DbRow(vec![Value::Integer(1), Value::Null, Value::Text("a".to_owned())]);
        assert!(row.get::<_, bool>(0).expect("bool"));
        assert_eq!(row.get::<_, Option<i64>>(1).expect("null"), None);
        assert!(matches!(row.get::<_, i64>(2), Err(Fail::Column { index: 2, .. })));
    }
}
