//! `kiln init`'s inference on generated CSV files: one rule per test, and every written config
//! loads, and its validation bounds pass on the very file they were taken from.

use std::fmt::Write as _;
use std::path::Path;

use kiln_core::rng::Rng;
use kiln_core::schema::{DType, Role, Task};
use kiln_data::config::SplitMethod;
use kiln_data::infer::signal::Measure;
use kiln_data::infer::{Flag, InferOptions, Starter, infer, write};
use kiln_data::load::{Source, load};
use kiln_data::plan::DataPlan;

/// Write `rows` under `header` as `name` in `dir`.
fn write_csv(dir: &Path, name: &str, header: &str, rows: &[String]) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut text = format!("{header}\n");
    for row in rows {
        writeln!(text, "{row}").expect("write to a string");
    }
    std::fs::write(&path, text).expect("write csv");
    path
}

/// Infer from `data`, write the config beside it, and check that it loads and that its
/// validation passes on the same file.
fn infer_and_check(data: &Path, target: Option<&str>) -> Starter {
    let dir = data.parent().expect("in a folder");
    let options = InferOptions { target: target.map(str::to_string), config_dir: dir.to_path_buf() };
    let starter = infer(data, &options).expect("infer");
    let config = dir.join("kiln.toml");
    write(&config, &starter, false).expect("write config");
    let plan =
        DataPlan::from_toml(&config, &std::fs::read_to_string(&config).expect("read")).expect("the config loads");
    // The typed sections and the text agree.
    assert_eq!(plan.project, starter.project);
    assert_eq!(plan.validation, starter.validation);
    assert_eq!(plan.split, starter.split);
    let table = load(&plan, Source::Train, 5).expect("load");
    table.ensure_parsed().expect("every cell parses as its declared type");
    let report = kiln_data::validate::validate("kiln.toml", &plan.validation, &table, None).expect("validate");
    assert!(report.passed(), "{:#?}", report.findings);
    starter
}

fn role(starter: &Starter, name: &str) -> (Role, Option<Flag>) {
    let g = starter.guess(name).unwrap_or_else(|| panic!("no guess for {name}"));
    (g.role, g.flag.clone())
}

/// 400 rows of a loan table: a binary label `approved` (about 30% "yes"), two features that
/// carry it partly, and one column of each kind `kiln init` must flag.
fn loans(dir: &Path) -> std::path::PathBuf {
    let mut rng = Rng::new(11);
    let cities = ["Leeds", "York", "Hull", "Bath", "Ely", "Wells", "Derby", "Truro"];
    let header = "customer_id,ref,country,email,contact,age,plan,city,note,income,decision,risk_score,approved";
    let rows: Vec<String> = (0..400)
        .map(|i| {
            let age = 18 + rng.below(60);
            let income = 20_000.0 + 50_000.0 * rng.uniform();
            let z = (age as f64 - 45.0) / 15.0 + (income - 45_000.0) / 20_000.0 + rng.normal() - 1.0;
            let yes = z > 0.0;
            let label = if yes { "yes" } else { "no" };
            format!(
                "{},R{:05},UK,user{i}@example.org,+44 20 7946 {:04},{age},{},{},note {},{income:.2},{},{:.4},{label}",
                i % 150,
                i * 7 + 3,
                i,
                1 + rng.below(4),
                cities[rng.below(8) as usize],
                i % 150,
                if yes { "granted" } else { "refused" },
                f64::from(u8::from(yes)) + 0.01 * rng.normal(),
            )
        })
        .collect();
    write_csv(dir, "loans.csv", header, &rows)
}

#[test]
fn a_binary_target_gets_its_classes_and_the_minority_as_positive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let starter = infer_and_check(&loans(dir.path()), None);
    // `approved` is the last column: picked without --target.
    assert_eq!(starter.columns.target, "approved");
    assert_eq!(starter.project.task, Task::Binary);
    assert_eq!(starter.columns.classes.as_deref(), Some(&["no".to_string(), "yes".to_string()][..]));
    let yes = starter.class_counts[1];
    assert!(yes < 200, "yes is the minority: {:?}", starter.class_counts);
    assert_eq!(starter.columns.positive.as_deref(), Some("yes"));
    assert!(starter.toml.contains("# the minority class"), "{}", starter.toml);
    assert_eq!(starter.split.method, SplitMethod::Stratified);
    let balance = starter.validation.class_balance.expect("class balance");
    let share = yes as f64 / 400.0;
    assert!(balance.min.expect("min") <= share && share <= balance.max.expect("max"));
}

#[test]
fn id_columns_by_name_and_by_uniqueness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let starter = infer_and_check(&loans(dir.path()), Some("approved"));
    assert!(matches!(role(&starter, "customer_id"), (Role::Id, Some(Flag::IdLike { .. }))));
    let (r, flag) = role(&starter, "ref");
    assert_eq!(r, Role::Id);
    assert!(matches!(flag, Some(Flag::IdLike { reason }) if reason.contains("each of the 400 rows")));
    assert_eq!(starter.columns.id, ["customer_id", "ref"]);
}

#[test]
fn a_constant_column_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let starter = infer_and_check(&loans(dir.path()), Some("approved"));
    assert_eq!(role(&starter, "country"), (Role::Drop, Some(Flag::Constant)));
    assert!(starter.columns.drop.contains(&"country".to_string()));
}

#[test]
fn leakage_columns_are_flagged_and_kept_out_of_the_features() {
    let dir = tempfile::tempdir().expect("tempdir");
    let starter = infer_and_check(&loans(dir.path()), Some("approved"));
    // `decision` is the label renamed: purity 1.
    let (r, flag) = role(&starter, "decision");
    assert_eq!(r, Role::Drop);
    let Some(Flag::Leakage(signal)) = flag else { panic!("decision: {flag:?}") };
    assert_eq!((signal.measure, signal.score), (Measure::Purity, 1.0));
    // `risk_score` is the label plus noise of sd 0.01: one threshold separates the classes.
    let Some(Flag::Leakage(signal)) = role(&starter, "risk_score").1 else { panic!("risk_score") };
    assert_eq!((signal.measure, signal.score), (Measure::ThresholdAuc, 1.0));
    // The honest features stay.
    assert_eq!(role(&starter, "age"), (Role::Numeric, None));
    assert_eq!(role(&starter, "income"), (Role::Numeric, None));
    assert!(starter.toml.contains("POSSIBLE LEAKAGE"), "{}", starter.toml);
    for leak in ["decision", "risk_score"] {
        assert!(!starter.columns.numeric.contains(&leak.to_string()));
        assert!(!starter.columns.categorical.contains(&leak.to_string()));
    }
}

#[test]
fn personal_data_by_name_and_by_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let starter = infer_and_check(&loans(dir.path()), Some("approved"));
    // `email` by its name; `contact` (phone numbers) by its values.
    for name in ["email", "contact"] {
        let (r, flag) = role(&starter, name);
        assert_eq!(r, Role::Drop, "{name}");
        assert!(matches!(flag, Some(Flag::PersonalData { .. })), "{name}: {flag:?}");
    }
    assert!(
        matches!(role(&starter, "contact").1, Some(Flag::PersonalData { reason }) if reason.contains("phone numbers"))
    );
    assert_eq!(starter.columns.pii, ["email", "contact"]);
    assert!(starter.toml.contains("PERSONAL DATA"), "{}", starter.toml);
}

#[test]
fn numeric_or_categorical_by_cardinality() {
    let dir = tempfile::tempdir().expect("tempdir");
    let starter = infer_and_check(&loans(dir.path()), Some("approved"));
    // Four whole values: codes. Sixty: a quantity.
    assert_eq!(role(&starter, "plan"), (Role::Categorical, None));
    assert_eq!(role(&starter, "age"), (Role::Numeric, None));
    assert_eq!(starter.columns.types.get("age"), Some(&DType::Int));
    assert_eq!(starter.columns.types.get("income"), Some(&DType::Float));
    // Eight text values: one-hot, with the values listed for validation.
    assert_eq!(role(&starter, "city"), (Role::Categorical, None));
    let allowed = starter.validation.columns["city"].allowed.as_ref().expect("allowed");
    assert_eq!(allowed.len(), 8);
    // 150 text values repeated: too many to one-hot encode.
    assert_eq!(role(&starter, "note"), (Role::Drop, Some(Flag::HighCardinality)));
    // Numeric bounds are the data's own.
    let age = &starter.validation.columns["age"];
    let summary = starter.guess("age").expect("age").summary.numeric.clone().expect("numeric");
    assert_eq!((age.min, age.max), (Some(summary.min), Some(summary.max)));
}

#[test]
fn a_numeric_target_is_regression_and_a_copy_of_it_is_leakage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng::new(5);
    let rows: Vec<String> = (0..300)
        .map(|_| {
            let (a, b) = (rng.normal(), rng.normal());
            let y = a + b + rng.normal();
            format!("{a:.6},{b:.6},{:.4},{y:.6}", y * 100.0 + 0.001 * rng.normal())
        })
        .collect();
    let data = write_csv(dir.path(), "prices.csv", "a,b,y_cents,price", &rows);
    let starter = infer_and_check(&data, Some("price"));
    assert_eq!(starter.project.task, Task::Regression);
    assert!(starter.columns.classes.is_none() && starter.columns.positive.is_none());
    assert_eq!(starter.columns.types.get("price"), Some(&DType::Float));
    assert_eq!(starter.split.method, SplitMethod::Random);
    assert!(starter.validation.class_balance.is_none());
    assert_eq!(starter.columns.numeric, ["a", "b"]);
    let Some(Flag::Leakage(signal)) = role(&starter, "y_cents").1 else { panic!("y_cents") };
    assert_eq!(signal.measure, Measure::RSquared);
    assert!(signal.score > 0.999, "{signal:?}");
    assert!(starter.toml.contains("metric = \"r2\""), "{}", starter.toml);
}

#[test]
fn three_labels_are_multiclass() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng::new(9);
    let labels = ["small", "medium", "large"];
    let rows: Vec<String> = (0..300)
        .map(|i| {
            let x = rng.normal();
            let k = usize::from(x > -0.5) + usize::from(x > 0.8);
            // `grade` is the label's rank plus noise: in its order the labels form three runs.
            let grade = k as f64 + 0.05 * rng.normal();
            format!("{:.5},{},{grade:.4},{}", x + rng.normal(), i % 3, labels[k])
        })
        .collect();
    let data = write_csv(dir.path(), "sizes.csv", "x,shift,grade,size", &rows);
    let starter = infer_and_check(&data, Some("size"));
    assert_eq!(starter.project.task, Task::Multiclass);
    let classes = starter.columns.classes.clone().expect("classes");
    assert_eq!(classes, ["large", "medium", "small"]);
    assert!(starter.columns.positive.is_none());
    assert_eq!(starter.class_counts.iter().sum::<u64>(), 300);
    assert_eq!(role(&starter, "shift"), (Role::Categorical, None));
    assert_eq!(role(&starter, "x"), (Role::Numeric, None));
    let Some(Flag::Leakage(signal)) = role(&starter, "grade").1 else { panic!("grade") };
    // Two label changes among 299 neighbouring pairs: 297 / 299.
    assert_eq!(signal.measure, Measure::NeighbourAgreement);
    assert!((signal.score - 297.0 / 299.0).abs() < 1e-12, "{signal:?}");
    assert!(starter.toml.contains("metric = \"log_loss\""), "{}", starter.toml);
}

#[test]
fn an_existing_config_is_kept_unless_forced_and_bad_input_names_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = loans(dir.path());
    let options = InferOptions { target: None, config_dir: dir.path().to_path_buf() };
    let starter = infer(&data, &options).expect("infer");
    let config = dir.path().join("kiln.toml");
    std::fs::write(&config, "# mine\n").expect("write");
    let err = write(&config, &starter, false).expect_err("exists");
    assert!(matches!(err, kiln_data::Error::ConfigExists { .. }), "{err:?}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&config).expect("read"), "# mine\n");
    write(&config, &starter, true).expect("forced");
    assert_eq!(std::fs::read_to_string(&config).expect("read"), starter.toml);

    let options = InferOptions { target: Some("income_band".into()), config_dir: dir.path().to_path_buf() };
    let err = infer(&data, &options).expect_err("no such column");
    assert!(err.to_string().contains("income_band") && err.to_string().contains("approved"), "{err}");
    let odd = dir.path().join("loans.xlsx");
    std::fs::write(&odd, "x").expect("write");
    let err = infer(&odd, &InferOptions::default()).expect_err("format");
    assert!(matches!(err, kiln_data::Error::InitFormat { .. }), "{err:?}");
    // A target with one value gives no task.
    let flat = write_csv(dir.path(), "flat.csv", "x,y", &["1,a".into(), "2,a".into(), "3,a".into()]);
    let err = infer(&flat, &InferOptions::default()).expect_err("constant target");
    assert!(matches!(err, kiln_data::Error::InitTask { distinct: 1, .. }), "{err:?}");
}

#[test]
fn column_names_that_need_quoting_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng::new(3);
    let rows: Vec<String> = (0..200)
        .map(|_| {
            let x = 10.0 * rng.uniform();
            let label = if x + 3.0 * rng.normal() > 6.0 { "Y" } else { "N" };
            format!("{x:.3},{},{label}", ["p", "q"][rng.below(2) as usize])
        })
        .collect();
    // A space, a dot and a doubled quote in the header (the name is a"b).
    let data = write_csv(dir.path(), "odd.csv", "\"my col\",\"a\"\"b\",Outcome.Flag", &rows);
    let starter = infer_and_check(&data, Some("Outcome.Flag"));
    assert_eq!(role(&starter, "my col"), (Role::Numeric, None));
    assert_eq!(role(&starter, "a\"b"), (Role::Categorical, None));
    assert!(starter.toml.contains("[validation.columns.\"my col\"]"), "{}", starter.toml);
}

#[test]
fn missing_markers_in_numeric_columns_are_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng::new(4);
    let rows: Vec<String> = (0..300)
        .map(|i| {
            let x = 10.0 * rng.uniform();
            let label = if x + 3.0 * rng.normal() > 6.0 { "yes" } else { "no" };
            // Every 20th `x` is "NA", every 25th `n` is "?"; the text column `code` holds other
            // short values, which stay values.
            let x_text = if i % 20 == 0 { "NA".to_string() } else { format!("{x:.3}") };
            let n_text = if i % 25 == 0 { "?".to_string() } else { rng.below(50).to_string() };
            format!("{x_text},{n_text},{},{label}", ["NB", "NC", "ND"][i % 3])
        })
        .collect();
    let data = write_csv(dir.path(), "markers.csv", "x,n,code,label", &rows);
    let starter = infer_and_check(&data, Some("label"));
    assert_eq!(starter.data.missing, ["?", "NA"]);
    assert_eq!(role(&starter, "x"), (Role::Numeric, None));
    assert_eq!(role(&starter, "n"), (Role::Numeric, None));
    assert_eq!(starter.guess("x").expect("x").summary.n_missing, 15);
    assert_eq!(starter.guess("n").expect("n").summary.n_missing, 12);
    assert!(starter.toml.contains("missing = [\"?\", \"NA\"]"), "{}", starter.toml);

    // A marker that a text column holds as an ordinary value is not taken for missing.
    let rows: Vec<String> = (0..100)
        .map(|i| {
            format!("{},{},{}", if i % 10 == 0 { "N".to_string() } else { i.to_string() }, ["N", "Y"][i % 2], i % 2)
        })
        .collect();
    let data = write_csv(dir.path(), "flags.csv", "amount,flag,label", &rows);
    let options = InferOptions { target: Some("label".into()), config_dir: dir.path().to_path_buf() };
    let starter = infer(&data, &options).expect("infer");
    assert!(starter.data.missing.is_empty(), "{:?}", starter.data.missing);
    assert_eq!(starter.guess("amount").expect("amount").dtype, DType::String);
}

#[test]
fn a_file_that_is_not_parquet_is_refused_in_kilns_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = write_csv(dir.path(), "rows.parquet", "x,y", &["1,a".into(), "2,b".into()]);
    let err = infer(&data, &InferOptions::default()).expect_err("a CSV named .parquet");
    assert!(matches!(err, kiln_data::Error::NotParquet { .. }), "{err:?}");
}
