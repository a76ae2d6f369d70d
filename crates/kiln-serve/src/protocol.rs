//! The two request forms, read into typed columns ([`Batch`]) against the model's schema, and
//! the answers written back:
//!
//! - the Open Inference Protocol (KServe v2): `{"inputs": [{"name": "age", "shape": [2],
//!   "datatype": "INT64", "data": [39, 50]}, ...]}`, one named input per column;
//! - rows: `{"instances": [{"age": 39, "workclass": "State-gov", ...}, ...]}`.
//!
//! A value that cannot be a column's declared type is reported as a problem of that column
//! and row (the same [`Problem`] the row check reports), so that every mistake in a request
//! comes back in one 4xx answer. The texts `NaN`, `Infinity` and `-Infinity` are read as
//! numbers in numeric columns (JSON has no literal for them), and refused by the row check.

use kiln_core::columns::{Batch, Values};
use kiln_core::rows::{MAX_ROWS, Problem, ProblemKind, RowReport};
use kiln_core::schema::{DType, Schema};
use serde_json::{Map, Value, json};

use crate::error::ApiError;

/// A request read into columns, with the problems met while reading it.
#[derive(Debug)]
pub struct Parsed {
    pub batch: Batch,
    pub problems: Vec<Problem>,
    /// The v2 request's `id`, echoed in the answer.
    pub id: Option<String>,
}

/// Parse a body as JSON, with a message in the server's terms.
pub fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "ends too early",
            serde_json::error::Category::Syntax => "has a syntax error",
            serde_json::error::Category::Io | serde_json::error::Category::Data => "cannot be read",
        };
        ApiError::bad_request(
            format!("the request body is not valid JSON: it {what} at line {} column {}", e.line(), e.column()),
            "send a JSON object; see the examples in docs/serving.md",
        )
    })
}

/// Read a rows request: `{"instances": [{column: value, ...}, ...]}`. Columns are taken in
/// the order they first appear; a key absent from a row is a missing value there.
pub fn rows_request(body: &Value, schema: &Schema, max_rows: usize) -> Result<Parsed, ApiError> {
    let fix = "send {\"instances\": [{\"column\": value, ...}, ...]}, one object per row";
    let instances = body
        .get("instances")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("the body has no `instances` array", fix))?;
    check_rows(instances.len(), max_rows)?;
    let mut names: Vec<&str> = Vec::new();
    for (i, row) in instances.iter().enumerate() {
        let object = row
            .as_object()
            .ok_or_else(|| ApiError::bad_request(format!("instance {} is not a JSON object", i + 1), fix))?;
        for key in object.keys() {
            if !names.contains(&key.as_str()) {
                names.push(key);
            }
        }
    }
    let mut builder = Builder::default();
    for name in names {
        let cells: Vec<&Value> = instances.iter().map(|row| row.get(name).unwrap_or(&Value::Null)).collect();
        builder.column(name, schema, &cells, None);
    }
    Ok(builder.finish(None))
}

/// Read an Open Inference Protocol request: `{"id"?, "inputs": [{"name", "shape",
/// "datatype", "data"}]}`, each input one column.
pub fn v2_request(body: &Value, schema: &Schema, max_rows: usize) -> Result<Parsed, ApiError> {
    let fix = "send {\"inputs\": [{\"name\": column, \"shape\": [rows], \"datatype\": \"INT64\" | \"FP64\" | \
               \"BYTES\" | \"BOOL\", \"data\": [...]}, ...]}, one input per column";
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("the body has no `inputs` array", fix))?;
    let mut builder = Builder::default();
    for (i, input) in inputs.iter().enumerate() {
        let name = input
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request(format!("input {} has no `name`", i + 1), fix))?;
        let datatype = input
            .get("datatype")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request(format!("input `{name}` has no `datatype`"), fix))?;
        let declared = v2_dtype(datatype).ok_or_else(|| {
            ApiError::bad_request(format!("input `{name}` has datatype `{datatype}`, which kiln does not read"), fix)
        })?;
        let mut cells = Vec::new();
        flatten(input.get("data").unwrap_or(&Value::Null), &mut cells);
        let shape: Option<Vec<u64>> =
            input.get("shape").and_then(Value::as_array).map(|s| s.iter().filter_map(Value::as_u64).collect());
        let rows = match shape.as_deref() {
            Some([rows]) | Some([rows, 1]) => *rows as usize,
            _ => {
                let message = format!("input `{name}` has shape {:?}; a column's shape is [rows] or [rows, 1]", shape);
                return Err(ApiError::bad_request(message, fix));
            }
        };
        if rows != cells.len() {
            let message = format!("input `{name}` has shape [{rows}] but {} data element(s)", cells.len());
            return Err(ApiError::bad_request(message, fix));
        }
        check_rows(rows, max_rows)?;
        if let Some(bad) = cells.iter().position(|c| !matches_declared(declared, c)) {
            let message = format!("input `{name}` declares {datatype}, but data element {} is {}", bad + 1, cells[bad]);
            return Err(ApiError::bad_request(message, fix));
        }
        builder.column(name, schema, &cells, Some(declared));
    }
    let id = body.get("id").and_then(Value::as_str).map(str::to_owned);
    Ok(builder.finish(id))
}

fn check_rows(rows: usize, max_rows: usize) -> Result<(), ApiError> {
    if rows > max_rows {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_rows",
            format!("the request holds {rows} rows; this server scores at most {max_rows} per request"),
            "split the rows over several requests",
        ));
    }
    Ok(())
}

/// The schema type of a v2 datatype.
fn v2_dtype(datatype: &str) -> Option<DType> {
    Some(match datatype {
        "BOOL" => DType::Bool,
        "INT8" | "INT16" | "INT32" | "INT64" | "UINT8" | "UINT16" | "UINT32" | "UINT64" => DType::Int,
        "FP16" | "FP32" | "FP64" => DType::Float,
        "BYTES" => DType::String,
        _ => return None,
    })
}

/// Whether a data element fits the declared datatype (null is a missing value).
fn matches_declared(declared: DType, cell: &Value) -> bool {
    match (declared, cell) {
        (_, Value::Null) => true,
        (DType::Bool, Value::Bool(_)) | (DType::String, Value::String(_)) => true,
        (DType::Int, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (DType::Float, Value::Number(_)) => true,
        (DType::Float, Value::String(s)) => non_finite(s).is_some(),
        _ => false,
    }
}

fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        other => out.push(other),
    }
}

/// `NaN`, `Infinity`, `-Infinity` (and `inf`, `-inf`) as numbers.
fn non_finite(text: &str) -> Option<f64> {
    match text.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "infinity" | "inf" | "+infinity" | "+inf" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// The schema type a JSON value is given as.
fn found(cell: &Value) -> DType {
    match cell {
        Value::Bool(_) => DType::Bool,
        Value::Number(n) if n.is_i64() || n.is_u64() => DType::Int,
        Value::Number(_) => DType::Float,
        _ => DType::String,
    }
}

#[derive(Default)]
struct Builder {
    columns: Vec<(String, Values)>,
    problems: Vec<Problem>,
}

impl Builder {
    /// Add the column `name` from `cells`, in the schema's type (or, for a column the schema
    /// does not have, in the type given: the row check reports it).
    fn column(&mut self, name: &str, schema: &Schema, cells: &[&Value], declared: Option<DType>) {
        let dtype = schema
            .column(name)
            .map(|c| c.dtype)
            .or(declared)
            .unwrap_or_else(|| cells.iter().find(|c| !c.is_null()).map_or(DType::String, |c| found(c)));
        let mut wrong: Vec<usize> = Vec::new();
        let mut first_found = None;
        let mut bad = |row: usize, cell: &Value| {
            first_found.get_or_insert(found(cell));
            wrong.push(row);
        };
        let values = match dtype {
            DType::Int => Values::Int(convert(cells, &mut bad, |c| match c {
                Value::Number(n) => {
                    n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
                }
                _ => None,
            })),
            DType::Float => Values::Float(convert(cells, &mut bad, |c| match c {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => non_finite(s),
                _ => None,
            })),
            DType::String => Values::Text(convert(cells, &mut bad, |c| c.as_str().map(str::to_owned))),
            DType::Bool => Values::Bool(convert(cells, &mut bad, Value::as_bool)),
        };
        if let Some(found) = first_found {
            let rows = wrong.iter().take(MAX_ROWS).map(|r| r + 1).collect();
            let kind = ProblemKind::WrongType { expected: dtype, found };
            self.problems.push(Problem { column: name.to_owned(), kind, count: wrong.len(), rows });
        }
        self.columns.push((name.to_owned(), values));
    }

    fn finish(self, id: Option<String>) -> Parsed {
        Parsed { batch: Batch::new(self.columns), problems: self.problems, id }
    }
}

/// The cells as `T` (null: missing), calling `bad` for each that is not.
fn convert<T>(
    cells: &[&Value],
    bad: &mut impl FnMut(usize, &Value),
    read: impl Fn(&Value) -> Option<T>,
) -> Vec<Option<T>> {
    cells
        .iter()
        .enumerate()
        .map(|(row, cell)| {
            if cell.is_null() {
                return None;
            }
            let value = read(cell);
            if value.is_none() {
                bad(row, cell);
            }
            value
        })
        .collect()
}

/// Merge the reading problems into the row check's report.
pub fn with_problems(mut report: RowReport, problems: Vec<Problem>) -> RowReport {
    // a value already reported as the wrong type is not reported again by the check
    report.problems.retain(|p| !problems.iter().any(|q| q.column == p.column));
    report.problems.splice(0..0, problems);
    report
}

/// A column of output values as JSON values.
fn json_values(values: &Values) -> Vec<Value> {
    match values {
        Values::Int(v) => v.iter().map(|x| json!(x)).collect(),
        Values::Float(v) => v.iter().map(|x| json!(x)).collect(),
        Values::Text(v) => v.iter().map(|x| json!(x)).collect(),
        Values::Bool(v) => v.iter().map(|x| json!(x)).collect(),
    }
}

/// The v2 datatype of a column of values.
pub fn v2_datatype(dtype: DType) -> &'static str {
    match dtype {
        DType::Int => "INT64",
        DType::Float => "FP64",
        DType::String => "BYTES",
        DType::Bool => "BOOL",
    }
}

/// The `outputs` of a v2 answer: one tensor per output column.
pub fn v2_outputs(outputs: &Batch) -> Vec<Value> {
    outputs
        .columns
        .iter()
        .map(|(name, values)| {
            json!({
                "name": name,
                "shape": [values.len()],
                "datatype": v2_datatype(values.dtype()),
                "data": json_values(values),
            })
        })
        .collect()
}

/// The `predictions` of a rows answer: one object per row.
pub fn row_predictions(outputs: &Batch) -> Vec<Value> {
    let columns: Vec<(&str, Vec<Value>)> =
        outputs.columns.iter().map(|(name, values)| (name.as_str(), json_values(values))).collect();
    (0..outputs.n_rows())
        .map(|row| {
            let object: Map<String, Value> =
                columns.iter().map(|(name, values)| ((*name).to_owned(), values[row].clone())).collect();
            Value::Object(object)
        })
        .collect()
}
