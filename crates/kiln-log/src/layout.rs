//! The segment schema of an entry (fixed columns, then inputs, then outputs, renamed where
//! names collide) and the column builders that gather a model version's rows between flushes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder, UInt32Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use kiln_core::columns::Values;
use kiln_core::schema::DType;

use super::{Entry, FORMAT};

/// The fixed columns, in order, before the input and output columns.
pub(super) const FIXED_COLUMNS: [&str; 7] = ["request_id", "row", "time", "model", "version", "route", "latency_ms"];

/// Why an entry cannot be logged.
#[derive(Debug)]
pub(super) enum Reject {
    /// A column's length differs from the entry's row count.
    UnevenColumns { column: String, len: usize, n_rows: usize },
    /// More rows than a `row` index (UInt32) can number.
    TooManyRows { n_rows: usize },
}

/// The names and types of an entry's input and output columns, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    inputs: Vec<(String, DType)>,
    outputs: Vec<(String, DType)>,
}

/// One model version's rows buffered since its last flush.
pub(super) struct Buffer {
    layout: Layout,
    schema: SchemaRef,
    fixed: FixedBuilders,
    columns: Vec<ColumnBuilder>,
    rows: usize,
    /// When the first row after the last flush was buffered.
    since: Option<Instant>,
}

struct FixedBuilders {
    request_id: StringBuilder,
    row: UInt32Builder,
    time: TimestampMillisecondBuilder,
    model: StringBuilder,
    version: Int64Builder,
    route: StringBuilder,
    latency_ms: Float64Builder,
}

enum ColumnBuilder {
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
    Bool(BooleanBuilder),
}

impl Reject {
    pub(super) fn describe(&self) -> String {
        match self {
            Reject::UnevenColumns { column, len, n_rows } => {
                format!("column {column} has {len} values where the entry has {n_rows} rows")
            }
            Reject::TooManyRows { n_rows } => format!("{n_rows} rows is more than one entry may hold"),
        }
    }
}

impl Layout {
    fn of(entry: &Entry) -> Self {
        let names = |columns: &[(String, Values)]| columns.iter().map(|(name, v)| (name.clone(), v.dtype())).collect();
        Self { inputs: names(&entry.inputs.columns), outputs: names(&entry.outputs.columns) }
    }

    fn matches(&self, entry: &Entry) -> bool {
        let same = |mine: &[(String, DType)], theirs: &[(String, Values)]| {
            mine.len() == theirs.len() && mine.iter().zip(theirs).all(|((a, t), (b, v))| a == b && *t == v.dtype())
        };
        same(&self.inputs, &entry.inputs.columns) && same(&self.outputs, &entry.outputs.columns)
    }

    /// The stored names: outputs named like a fixed column get `output.`, inputs named like a
    /// fixed or output column (or a name already taken) get `input.`, repeated until unique.
    fn stored_names(&self) -> (Vec<String>, Vec<String>) {
        let mut taken: HashSet<String> = FIXED_COLUMNS.iter().map(|name| (*name).to_owned()).collect();
        let mut outputs = Vec::with_capacity(self.outputs.len());
        for (name, _) in &self.outputs {
            let stored = unique(name, "output.", &taken);
            taken.insert(stored.clone());
            outputs.push(stored);
        }
        let output_names: HashSet<&str> = self.outputs.iter().map(|(name, _)| name.as_str()).collect();
        let mut inputs = Vec::with_capacity(self.inputs.len());
        for (name, _) in &self.inputs {
            let stored = if output_names.contains(name.as_str()) {
                unique(&format!("input.{name}"), "input.", &taken)
            } else {
                unique(name, "input.", &taken)
            };
            taken.insert(stored.clone());
            inputs.push(stored);
        }
        (inputs, outputs)
    }

    fn schema(&self) -> Schema {
        let (input_names, output_names) = self.stored_names();
        let mut fields = vec![
            Field::new("request_id", DataType::Utf8, false),
            Field::new("row", DataType::UInt32, false),
            Field::new("time", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
            Field::new("model", DataType::Utf8, false),
            Field::new("version", DataType::Int64, false),
            Field::new("route", DataType::Utf8, false),
            Field::new("latency_ms", DataType::Float64, false),
        ];
        let roles = [("input", &self.inputs, input_names), ("output", &self.outputs, output_names)];
        for (role, columns, stored) in roles {
            for ((name, dtype), stored) in columns.iter().zip(stored) {
                let mut metadata = HashMap::from([("kiln.role".to_owned(), role.to_owned())]);
                if stored != *name {
                    metadata.insert("kiln.column".to_owned(), name.clone());
                }
                fields.push(Field::new(stored, arrow_type(*dtype), true).with_metadata(metadata));
            }
        }
        Schema::new(fields).with_metadata(HashMap::from([("kiln.format".to_owned(), FORMAT.to_owned())]))
    }
}

/// `name`, or `prefix` put before it as many times as needed to leave `taken`.
fn unique(name: &str, prefix: &str, taken: &HashSet<String>) -> String {
    let mut stored = name.to_owned();
    while taken.contains(&stored) {
        stored = format!("{prefix}{stored}");
    }
    stored
}

fn arrow_type(dtype: DType) -> DataType {
    match dtype {
        DType::Int => DataType::Int64,
        DType::Float => DataType::Float64,
        DType::String => DataType::Utf8,
        DType::Bool => DataType::Boolean,
    }
}

impl Buffer {
    /// An empty buffer for entries shaped like `entry`.
    pub(super) fn for_entry(entry: &Entry) -> Self {
        let layout = Layout::of(entry);
        let schema = Arc::new(layout.schema());
        let columns =
            layout.inputs.iter().chain(&layout.outputs).map(|(_, dtype)| ColumnBuilder::new(*dtype)).collect();
        Self { layout, schema, fixed: FixedBuilders::new(), columns, rows: 0, since: None }
    }

    /// Whether `entry` has this buffer's columns and types.
    pub(super) fn fits(&self, entry: &Entry) -> bool {
        self.layout.matches(entry)
    }

    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    /// When the oldest row not yet flushed was buffered.
    pub(super) fn since(&self) -> Option<Instant> {
        self.since
    }

    /// Adds the entry's rows; the entry must [`fit`](Buffer::fits).
    pub(super) fn push(&mut self, entry: &Entry, now: Instant) -> Result<(), Reject> {
        let n_rows = entry.n_rows();
        let row_count = u32::try_from(n_rows).map_err(|_| Reject::TooManyRows { n_rows })?;
        if let Some((column, values)) =
            entry.inputs.columns.iter().chain(&entry.outputs.columns).find(|(_, values)| values.len() != n_rows)
        {
            return Err(Reject::UnevenColumns { column: column.clone(), len: values.len(), n_rows });
        }
        self.fixed.push(entry, row_count);
        for (builder, (_, values)) in
            self.columns.iter_mut().zip(entry.inputs.columns.iter().chain(&entry.outputs.columns))
        {
            builder.push(values);
        }
        self.rows += n_rows;
        self.since.get_or_insert(now);
        Ok(())
    }

    /// The buffered rows as one record batch; the buffer is left empty.
    pub(super) fn take_batch(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut arrays = self.fixed.finish();
        arrays.extend(self.columns.iter_mut().map(ColumnBuilder::finish));
        self.rows = 0;
        self.since = None;
        RecordBatch::try_new(Arc::clone(&self.schema), arrays)
    }
}

impl FixedBuilders {
    fn new() -> Self {
        Self {
            request_id: StringBuilder::new(),
            row: UInt32Builder::new(),
            time: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            model: StringBuilder::new(),
            version: Int64Builder::new(),
            route: StringBuilder::new(),
            latency_ms: Float64Builder::new(),
        }
    }

    fn push(&mut self, entry: &Entry, n_rows: u32) {
        let n = n_rows as usize;
        for _ in 0..n {
            self.request_id.append_value(&entry.request_id);
            self.model.append_value(&entry.model);
            self.route.append_value(entry.route.as_str());
        }
        self.row.extend((0..n_rows).map(Some));
        self.time.append_value_n(entry.time_ms, n);
        self.version.append_value_n(entry.version, n);
        self.latency_ms.append_value_n(entry.latency_ms, n);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.request_id.finish()),
            Arc::new(self.row.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.model.finish()),
            Arc::new(self.version.finish()),
            Arc::new(self.route.finish()),
            Arc::new(self.latency_ms.finish()),
        ]
    }
}

impl ColumnBuilder {
    fn new(dtype: DType) -> Self {
        match dtype {
            DType::Int => ColumnBuilder::Int(Int64Builder::new()),
            DType::Float => ColumnBuilder::Float(Float64Builder::new()),
            DType::String => ColumnBuilder::Text(StringBuilder::new()),
            DType::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
        }
    }

    /// Appends `values`, whose type the layout has already matched.
    fn push(&mut self, values: &Values) {
        match (self, values) {
            (ColumnBuilder::Int(b), Values::Int(v)) => b.extend(v.iter().copied()),
            (ColumnBuilder::Float(b), Values::Float(v)) => b.extend(v.iter().copied()),
            (ColumnBuilder::Text(b), Values::Text(v)) => b.extend(v.iter().map(Option::as_deref)),
            (ColumnBuilder::Bool(b), Values::Bool(v)) => b.extend(v.iter().copied()),
            _ => unreachable!("the buffer's layout matched the entry's column types"),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Int(b) => Arc::new(b.finish()),
            ColumnBuilder::Float(b) => Arc::new(b.finish()),
            ColumnBuilder::Text(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use kiln_core::columns::Batch;

    use super::*;
    use crate::Route;

    fn entry(inputs: Vec<(&str, Values)>, outputs: Vec<(&str, Values)>) -> Entry {
        let batch = |cols: Vec<(&str, Values)>| Batch::new(cols.into_iter().map(|(n, v)| (n.to_owned(), v)).collect());
        Entry {
            request_id: "r".to_owned(),
            time_ms: 0,
            model: "m".to_owned(),
            version: 1,
            route: Route::Primary,
            latency_ms: 1.0,
            inputs: Arc::new(batch(inputs)),
            outputs: batch(outputs),
        }
    }

    fn names(schema: &Schema) -> Vec<&str> {
        schema.fields().iter().map(|f| f.name().as_str()).collect()
    }

    #[test]
    fn colliding_names_are_prefixed_and_keep_their_original_name() {
        let e = entry(
            vec![
                ("time", Values::Int(vec![Some(1)])),
                ("input.predicted", Values::Int(vec![Some(2)])),
                ("predicted", Values::Text(vec![None])),
                ("age", Values::Int(vec![Some(3)])),
            ],
            vec![("row", Values::Float(vec![Some(0.5)])), ("predicted", Values::Text(vec![Some("x".into())]))],
        );
        let schema = Layout::of(&e).schema();
        assert_eq!(
            names(&schema)[7..],
            ["input.time", "input.predicted", "input.input.predicted", "age", "output.row", "predicted"]
        );
        let field = schema.field_with_name("input.time").expect("renamed input");
        assert_eq!(field.metadata().get("kiln.column").map(String::as_str), Some("time"));
        assert_eq!(field.metadata().get("kiln.role").map(String::as_str), Some("input"));
        let twice = schema.field_with_name("input.input.predicted").expect("renamed twice");
        assert_eq!(twice.metadata().get("kiln.column").map(String::as_str), Some("predicted"));
        for plain in ["input.predicted", "age"] {
            assert_eq!(schema.field_with_name(plain).expect("plain input").metadata().get("kiln.column"), None);
        }
        let output = schema.field_with_name("output.row").expect("renamed output");
        assert_eq!(output.metadata().get("kiln.role").map(String::as_str), Some("output"));
    }

    #[test]
    fn uneven_columns_are_rejected_naming_the_column() {
        let e = entry(vec![("a", Values::Int(vec![Some(1), None]))], vec![("p_1", Values::Float(vec![Some(0.1)]))]);
        let mut buffer = Buffer::for_entry(&e);
        let reject = buffer.push(&e, Instant::now()).expect_err("uneven");
        assert_eq!(reject.describe(), "column p_1 has 1 values where the entry has 2 rows");
        assert_eq!(buffer.rows(), 0);
    }
}
