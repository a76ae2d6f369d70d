//! Data spread over many Parquet files (a folder, a glob, hive partitions), read whole and
//! batch by batch: the same rows give the same validation report and the same hashes as one
//! file; a bad file among good ones is named.

use std::path::Path;

use kiln_data::config::Check;
use kiln_data::load::{Source, load};
use kiln_data::snapshot::Snapshot;
use kiln_data::synth::{SynthOptions, config_toml, synth};
use kiln_data::validate::ValidationReport;
use polars::prelude::{BooleanChunked, DataFrame, IntoColumn, NamedFrom, NewChunkedArray, ParquetWriter, Series};

use crate::common::plan_from;

/// Rows with something for every check to find: ages outside [18, 60], devices outside the
/// allowed set, 3% missing incomes (over the 1% allowed), 150 repeated rows; plus a `year`
/// column (2025 or 2026) to partition by.
fn rows() -> DataFrame {
    let mut df = synth(&SynthOptions { rows: 12_000, seed: 5, ..SynthOptions::default() }).expect("synth");
    let repeats = df.slice(100, 150);
    df.vstack_mut_owned(repeats).expect("repeat rows");
    df.rechunk_mut();
    let ids = df.column("id").expect("id").as_materialized_series().i64().expect("i64").clone();
    let year: Vec<i64> = ids.iter().map(|id| 2025 + id.expect("ids are present") % 2).collect();
    let mut df = df;
    df.with_column(Series::new("year".into(), year).into_column()).expect("year");
    df
}

/// The config for `train` (and `test`) with tighter expectations than the generator's.
fn config(dir: &Path, train: &str, test: Option<&str>) -> kiln_data::plan::DataPlan {
    let mut text = config_toml(train, &SynthOptions::default())
        .replace("numeric = [\"age\"", "numeric = [\"year\", \"age\"")
        .replace("types = { id = \"int\"", "types = { year = \"int\", id = \"int\"")
        .replace("max = 90", "max = 60")
        .replace("\"tv\", ", "")
        .replace("max_missing = 0.1", "max_missing = 0.01\nunseen_categories = true")
        .replace("max_duplicate_fraction = 0.0", "max_duplicate_fraction = 0.001")
        .replace("min = 0.02, max = 0.98", "min = 0.3, max = 0.98");
    if let Some(test) = test {
        text = text.replace(&format!("train = \"{train}\""), &format!("train = \"{train}\"\ntest = \"{test}\""));
        text = text.replace("method = \"key_hash\"\nkey = \"id\"", "method = \"fixed\"");
    }
    let path = dir.join("cfg.toml");
    std::fs::write(&path, &text).expect("config");
    plan_from(&path, &text).expect("plan")
}

fn write_parquet(path: &Path, df: &DataFrame, row_group: usize) {
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("folders");
    let file = std::fs::File::create(path).expect("create");
    ParquetWriter::new(file).with_row_group_size(Some(row_group)).finish(&mut df.clone()).expect("write parquet");
}

/// Rows whose `column` (text) equals `value`, or does not.
fn filter_text(df: &DataFrame, column: &str, value: &str, keep_equal: bool) -> DataFrame {
    let text = df.column(column).expect("column").as_materialized_series().clone();
    let text = text.str().expect("text");
    let mask = BooleanChunked::from_iter_values("m".into(), text.iter().map(|v| (v == Some(value)) == keep_equal));
    df.filter(&mask).expect("filter")
}

fn filter_year(df: &DataFrame, year: i64) -> DataFrame {
    let years = df.column("year").expect("year").as_materialized_series().i64().expect("i64").clone();
    let mask = BooleanChunked::from_iter_values("m".into(), years.iter().map(|y| y == Some(year)));
    df.filter(&mask).expect("filter")
}

fn stacked(parts: &[DataFrame]) -> DataFrame {
    let mut all = parts[0].clone();
    for p in &parts[1..] {
        all.vstack_mut(p).expect("stack");
    }
    all.rechunk_mut();
    all
}

/// The report with the data's paths blanked (they name a file, a folder or a glob).
fn blank(mut report: ValidationReport) -> ValidationReport {
    report.config.clear();
    report.files.iter_mut().for_each(|f| f.path.clear());
    report.findings.iter_mut().for_each(|f| f.file.clear());
    report
}

fn blank_snapshot(mut snap: Snapshot) -> Snapshot {
    snap.config.clear();
    snap.files.iter_mut().for_each(|f| f.path.clear());
    snap
}

/// The eager path: load whole, validate, split, hash.
fn eager(plan: &kiln_data::plan::DataPlan) -> (ValidationReport, Snapshot) {
    let train = load(plan, Source::Train, plan.validation.max_examples).expect("train");
    let test = plan.test_path.as_ref().map(|_| load(plan, Source::Test, plan.validation.max_examples).expect("test"));
    let report = kiln_data::validate::validate("cfg", &plan.validation, &train, test.as_ref()).expect("validate");
    let n_test = test.as_ref().map_or(0, |t| t.n_rows());
    let split = kiln_data::split::assign(&plan.split, plan.split_seed, &train, n_test).expect("split");
    let snap = kiln_data::snapshot::snapshot("cfg", &train, test.as_ref(), &split).expect("snapshot");
    (blank(report), blank_snapshot(snap))
}

fn streamed(plan: &kiln_data::plan::DataPlan) -> (ValidationReport, Snapshot) {
    let report = kiln_data::stream::validate("cfg", plan).expect("streamed validate");
    let snap = kiln_data::stream::snapshot("cfg", plan).expect("streamed snapshot");
    (blank(report), blank_snapshot(snap))
}

#[test]
fn many_files_and_hive_partitions_give_the_one_file_report_and_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let df = rows();
    // Hive order: the files in sorted path order, the partition columns last.
    let keys = [(2025, "A"), (2025, "B"), (2026, "A"), (2026, "B")];
    let pieces: Vec<DataFrame> =
        keys.iter().map(|(year, cohort)| filter_text(&filter_year(&df, *year), "cohort", cohort, true)).collect();
    let mut canonical = stacked(&pieces);
    let mut order: Vec<String> = canonical.get_column_names().iter().map(|n| n.to_string()).collect();
    order.retain(|n| n != "year" && n != "cohort");
    order.extend(["year".to_string(), "cohort".to_string()]);
    canonical = canonical.select(order.clone()).expect("reorder");
    write_parquet(&root.join("one.parquet"), &canonical, 4096);
    // The same rows cut into uneven files of small row groups.
    let cuts = [0, 1000, 1001, 5000, 9000, canonical.height()];
    for (i, w) in cuts.windows(2).enumerate() {
        write_parquet(&root.join(format!("many/part-{i:02}.parquet")), &canonical.slice(w[0] as i64, w[1] - w[0]), 700);
    }
    // Hive partitions: year=YYYY/cohort=X/, the key columns only in the folder names.
    for ((year, cohort), piece) in keys.iter().zip(&pieces) {
        let body = piece.drop("year").expect("drop").drop("cohort").expect("drop");
        let half = body.height() / 2;
        let folder = root.join(format!("hive/year={year}/cohort={cohort}"));
        write_parquet(&folder.join("part-0.parquet"), &body.slice(0, half), 500);
        write_parquet(&folder.join("part-1.parquet"), &body.slice(half as i64, body.height() - half), 500);
    }
    // A non-Parquet side file in the hive folder is not data (only *.parquet is read).
    std::fs::write(root.join("hive/_SUCCESS"), b"").expect("marker");

    let (report, snap) = eager(&config(root, "one.parquet", None));
    // The report finds what was put in, counted independently of kiln.
    let ages = canonical.column("age").expect("age").as_materialized_series().i64().expect("i64").clone();
    let old = ages.iter().flatten().filter(|a| *a > 60 || *a < 18).count() as u64;
    let count = |check: Check| report.findings.iter().find(|f| f.check == check).map(|f| f.count);
    assert_eq!(count(Check::Range), Some(old));
    assert!(old > 100, "{old}");
    assert_eq!(count(Check::Duplicates), Some(150));
    let tv = filter_text(&canonical, "device", "tv", true).height() as u64;
    assert_eq!(count(Check::Allowed), Some(tv));
    assert!(count(Check::Missing).is_some() && count(Check::ClassBalance).is_some(), "{:#?}", report.findings);

    for spec in ["many", "many/*.parquet", "hive", "hive/**/*.parquet"] {
        let plan = config(root, spec, None);
        assert_eq!(streamed(&plan), (report.clone(), snap.clone()), "{spec} streamed");
        assert_eq!(eager(&plan), (report.clone(), snap.clone()), "{spec} read whole");
    }
}

#[test]
fn unseen_test_categories_and_a_fixed_split_over_globs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let df = rows();
    // Training data without the `tv` devices that the test data has.
    let train = filter_text(&df, "device", "tv", false);
    let test = synth(&SynthOptions { rows: 3_000, seed: 9, ..SynthOptions::default() }).expect("test rows");
    let year = Series::new("year".into(), vec![2026i64; test.height()]);
    let mut test = test;
    test.with_column(year.into_column()).expect("year");
    write_parquet(&root.join("train.parquet"), &train, 2048);
    write_parquet(&root.join("test.parquet"), &test, 2048);
    for (i, start) in [0usize, 4000, 8000].iter().enumerate() {
        let len = if i == 2 { train.height() - start } else { 4000 };
        write_parquet(&root.join(format!("t/train-{i}.parquet")), &train.slice(*start as i64, len), 999);
    }
    write_parquet(&root.join("t/test-0.parquet"), &test.slice(0, 1000), 300);
    write_parquet(&root.join("t/test-1.parquet"), &test.slice(1000, 2000), 300);

    let (report, snap) = eager(&config(root, "train.parquet", Some("test.parquet")));
    let unseen = report.findings.iter().find(|f| f.check == Check::UnseenCategory).expect("unseen devices");
    let tv = filter_text(&test, "device", "tv", true).height() as u64;
    assert_eq!((unseen.column.as_deref(), unseen.count), (Some("device"), tv));
    assert_eq!(snap.split.test, 3_000);
    let plan = config(root, "t/train-*.parquet", Some("t/test-*.parquet"));
    assert_eq!(streamed(&plan), (report.clone(), snap.clone()));
    // A glob for one side, a file for the other.
    let plan = config(root, "t/train-*.parquet", Some("test.parquet"));
    assert_eq!(streamed(&plan), (report, snap));
}

fn error_text(result: kiln_data::Result<ValidationReport>) -> String {
    let error = result.expect_err("an error");
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[test]
fn a_bad_file_among_good_ones_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let df = rows();
    for i in 0..3 {
        write_parquet(&root.join(format!("d/part-{i}.parquet")), &df.slice(i * 1000, 1000), 500);
    }
    let plan = config(root, "d", None);
    assert!(kiln_data::stream::validate("cfg", &plan).is_ok());

    // A column of another type.
    let ages = df.column("age").expect("age").as_materialized_series().cast(&polars::prelude::DataType::Float64);
    let mut odd = df.slice(0, 100);
    odd.with_column(ages.expect("cast").slice(0, 100).into_column()).expect("age as float");
    write_parquet(&root.join("d/part-1.parquet"), &odd, 50);
    let text = error_text(kiln_data::stream::validate("cfg", &plan));
    assert!(text.contains("part-1.parquet") && text.contains("`age` is f64, not i64"), "{text}");
    assert!(text.contains("hint:"), "{text}");
    let whole = load(&plan, Source::Train, 5).map(|_| ()).expect_err("read whole too");
    assert!(whole.to_string().contains("part-1.parquet"), "{whole}");

    // A missing column.
    write_parquet(&root.join("d/part-1.parquet"), &df.slice(0, 100).drop("visits").expect("drop"), 50);
    let text = error_text(kiln_data::stream::validate("cfg", &plan));
    assert!(text.contains("part-1.parquet") && text.contains("no column `visits`"), "{text}");

    // Not Parquet at all.
    std::fs::write(root.join("d/part-1.parquet"), b"id,age\n1,2\n").expect("csv bytes");
    let text = error_text(kiln_data::stream::validate("cfg", &plan));
    assert!(text.contains("part-1.parquet") && text.contains("not a Parquet file"), "{text}");

    // No file matches.
    let plan = config(root, "d/*.pq", None);
    let text = error_text(kiln_data::stream::validate("cfg", &plan));
    assert!(text.contains("no Parquet files match data.train") && text.contains("d/*.pq"), "{text}");

    // A partition value that is not of the declared type.
    let body = df.slice(0, 100).drop("year").expect("drop");
    write_parquet(&root.join("h/year=2025/part-0.parquet"), &body, 50);
    write_parquet(&root.join("h/year=last/part-0.parquet"), &body, 50);
    let plan = config(root, "h", None);
    let text = error_text(kiln_data::stream::validate("cfg", &plan));
    assert!(text.contains("year=last") && text.contains("does not parse as int"), "{text}");
}

#[test]
fn a_folder_is_parquet_and_cannot_be_declared_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("events")).expect("folder");
    let plan = config(dir.path(), "events", None);
    assert_eq!(plan.read.format, kiln_data::config::FileFormat::Parquet);
    let text = config_toml("events", &SynthOptions::default()).replace("[data]", "[data]\nformat = \"csv\"");
    let error = plan_from(&dir.path().join("cfg.toml"), &text).expect_err("csv folder");
    assert!(error.to_string().contains("data.format"), "{error}");
}

#[test]
fn cells_of_the_wrong_type_count_across_files_and_are_named_by_file_and_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut df = rows().slice(0, 2000);
    // `income` as text, one cell not a number: row 1751 of the data, row 751 of its file.
    let income = df.column("income").expect("income").as_materialized_series().cast(&polars::prelude::DataType::String);
    let mut text: Vec<Option<String>> =
        income.expect("as text").str().expect("text").iter().map(|v| v.map(str::to_string)).collect();
    text[1750] = Some("n/a".into());
    df.with_column(Series::new("income".into(), text).into_column()).expect("income");
    write_parquet(&root.join("one.parquet"), &df, 4096);
    write_parquet(&root.join("d/part-0.parquet"), &df.slice(0, 1000), 500);
    write_parquet(&root.join("d/part-1.parquet"), &df.slice(1000, 1000), 500);

    let report = streamed_report(&config(root, "d", None));
    let whole = streamed_report(&config(root, "one.parquet", None));
    assert_eq!(report, whole);
    let typed = report.findings.iter().find(|f| f.check == Check::Type).expect("type finding");
    assert_eq!((typed.column.as_deref(), typed.count, typed.examples.clone()), (Some("income"), 1, vec![1751]));
    assert_eq!(typed.values, vec!["n/a".to_string()]);

    let error = kiln_data::stream::snapshot("cfg", &config(root, "d", None)).expect_err("not parsed");
    let text = error.to_string();
    assert!(text.contains("part-1.parquet") && text.contains("rows 751"), "{text}");
}

fn streamed_report(plan: &kiln_data::plan::DataPlan) -> ValidationReport {
    blank(kiln_data::stream::validate("cfg", plan).expect("validate"))
}
