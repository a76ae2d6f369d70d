//! pyarrow (`pyarrow.ipc.open_stream`) reads finished and open segments with every value
//! kiln wrote, when Python has pyarrow.

use std::fs;
use std::path::Path;

use kiln_core::columns::Values;
use kiln_core::rng::Rng;
use kiln_log::{Entry, LogSettings, PredictionLog, Route};

use super::{Table, entry, expected_table, segments, settings, wait_until};

/// Whether `python3` can import pyarrow. Fails the test when `KILN_REQUIRE_PYTHON` is set and
/// it cannot.
fn python_has_pyarrow() -> bool {
    let ready = std::process::Command::new("python3")
        .args(["-c", "import pyarrow.ipc"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ready || std::env::var_os("KILN_REQUIRE_PYTHON").is_none(),
        "KILN_REQUIRE_PYTHON is set but python3 cannot import pyarrow"
    );
    ready
}

/// Reads Arrow IPC streams with pyarrow and prints every column as JSON (floats as their
/// IEEE-754 bits, timestamps as integers, with the type's name).
const PYARROW_DUMP: &str = r#"
import json, struct, sys
import pyarrow as pa, pyarrow.ipc as ipc
out = []
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        table = ipc.open_stream(f).read_all()
    columns = []
    for field, column in zip(table.schema, table.columns):
        t = field.type
        if pa.types.is_timestamp(t):
            kind, values = "int", column.cast(pa.int64()).to_pylist()
        elif pa.types.is_floating(t):
            kind = "float"
            values = [None if v is None else struct.unpack("<q", struct.pack("<d", v))[0] for v in column.to_pylist()]
        elif pa.types.is_integer(t):
            kind, values = "int", column.to_pylist()
        elif pa.types.is_boolean(t):
            kind, values = "bool", column.to_pylist()
        else:
            kind, values = "text", column.to_pylist()
        columns.append([field.name, kind, str(t), values])
    out.append(columns)
print(json.dumps(out))
"#;

fn pyarrow_tables(paths: &[&Path]) -> Vec<(Vec<String>, Table)> {
    let output =
        std::process::Command::new("python3").arg("-c").arg(PYARROW_DUMP).args(paths).output().expect("run python3");
    assert!(output.status.success(), "pyarrow failed: {}", String::from_utf8_lossy(&output.stderr));
    let files: Vec<Vec<(String, String, String, serde_json::Value)>> =
        serde_json::from_slice(&output.stdout).expect("json from python");
    files
        .into_iter()
        .map(|columns| {
            let types = columns.iter().map(|(_, _, t, _)| t.clone()).collect();
            let table = columns
                .into_iter()
                .map(|(name, kind, _, values)| {
                    let values = values.as_array().expect("a list").iter();
                    let values = match kind.as_str() {
                        "int" => Values::Int(values.map(serde_json::Value::as_i64).collect()),
                        "float" => {
                            Values::Float(values.map(|v| v.as_i64().map(|bits| f64::from_bits(bits as u64))).collect())
                        }
                        "bool" => Values::Bool(values.map(serde_json::Value::as_bool).collect()),
                        _ => Values::Text(values.map(|v| v.as_str().map(str::to_owned)).collect()),
                    };
                    (name, values)
                })
                .collect();
            (types, table)
        })
        .collect()
}

#[allow(clippy::print_stderr)]
fn skip_note(test: &str, why: &str) {
    eprintln!("note: {test} skipped: {why}");
}

#[test]
fn pyarrow_reads_finished_and_open_segments() {
    if !python_has_pyarrow() {
        skip_note("pyarrow_reads_finished_and_open_segments", "python3 cannot import pyarrow");
        return;
    }
    let mut rng = Rng::new(23);
    let entries: Vec<Entry> =
        (0..4).map(|i| entry(&mut rng, i, "adult", 2, [Route::Primary, Route::Fallback][i % 2], 6)).collect();
    let expected = expected_table(&entries.iter().collect::<Vec<_>>());

    let finished_dir = tempfile::tempdir().expect("temp dir");
    let log = PredictionLog::start(LogSettings { flush_rows: 12, ..settings(finished_dir.path()) }).expect("start");
    let open_dir = tempfile::tempdir().expect("temp dir");
    let open_log = PredictionLog::start(LogSettings { flush_rows: 6, ..settings(open_dir.path()) }).expect("start");
    for e in &entries {
        log.append(e.clone());
        open_log.append(e.clone());
    }
    log.close().expect("close");
    wait_until("24 rows written", || open_log.stats().rows_written == 24);
    let finished = finished_dir.path().join("adult/v2").join(&segments(finished_dir.path(), "adult", 2)[0].0);
    let open_folder = open_dir.path().join("adult/v2");
    let open = fs::read_dir(&open_folder).expect("folder").next().expect("one file").expect("entry").path();
    assert!(open.to_string_lossy().ends_with(".arrows.open"));

    let tables = pyarrow_tables(&[&finished, &open]);
    std::mem::forget(open_log);
    for (types, table) in tables {
        assert_eq!(table, expected);
        assert_eq!(types[..7], ["string", "uint32", "timestamp[ms, tz=UTC]", "string", "int64", "string", "double"]);
    }
}
