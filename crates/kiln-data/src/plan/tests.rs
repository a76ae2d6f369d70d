//! Config checks: every misconfiguration is an error naming the file, the key and the fix.

use super::*;
const BASE: &str = r#"
[project]
name = "t"
task = "binary"

[data]
train = "train.csv"

[columns]
target = "y"
classes = ["no", "yes"]
positive = "yes"
numeric = ["age"]
categorical = ["city"]
segment = ["sex"]
protected = ["sex"]
"#;

fn plan(text: &str) -> Result<DataPlan> {
    DataPlan::from_toml(Path::new("configs/cfg.toml"), text)
}

fn with(extra_columns: &str) -> String {
    BASE.replace("protected = [\"sex\"]\n", &format!("protected = [\"sex\"]\n{extra_columns}\n"))
}

#[test]
fn a_good_config_plans_with_positive_class_last_and_resolved_paths() {
    let p = plan(&BASE.replace("classes = [\"no\", \"yes\"]", "classes = [\"yes\", \"no\"]")).expect("valid");
    assert_eq!(p.classes, ["no", "yes"]);
    assert_eq!(p.train_path, Path::new("configs/train.csv"));
    assert_eq!(p.read.format, FileFormat::Csv);
    assert_eq!(p.split_seed, 42);
    let names: Vec<String> = ["age", "city", "sex", "y"].iter().map(|s| s.to_string()).collect();
    let schema = p.schema(&names).expect("schema");
    let sex = schema.column("sex").expect("sex");
    assert_eq!(sex.role, Role::Attribute);
    assert!(sex.segment && sex.protected);
    assert_eq!(schema.features().count(), 2);
    assert_eq!(schema.column("age").map(|c| c.dtype), Some(DType::Float));
}

#[test]
fn unknown_key_is_an_error_naming_the_key() {
    let err = plan(&BASE.replace("[data]\n", "[data]\ntrian = \"x\"\n")).expect_err("unknown key");
    let source = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
    let text = format!("{err}: {source}");
    assert!(text.contains("cfg.toml") && text.contains("trian"), "{text}");
}

#[test]
fn missing_required_key_is_an_error_naming_it() {
    let err = plan(&BASE.replace("target = \"y\"\n", "")).expect_err("missing target");
    let source = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
    assert!(source.contains("missing field `target`"), "{err}: {source}");
}

#[test]
fn a_column_in_two_roles_is_an_error() {
    let err = plan(&with("id = [\"age\"]")).expect_err("two roles");
    match err {
        Error::TwoRoles { column, first, second, .. } => {
            assert_eq!((column.as_str(), first.as_str(), second.as_str()), ("age", "columns.numeric", "columns.id"));
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn protected_or_pii_feature_needs_an_explicit_allow() {
    let err = plan(&BASE.replace("categorical = [\"city\"]", "categorical = [\"city\", \"sex\"]"))
        .expect_err("protected feature");
    assert!(matches!(&err, Error::FeatureNotAllowed { column, .. } if column == "sex"), "{err}");
    assert!(err.to_string().contains("allow_as_feature"));
    let ok = plan(
        &BASE.replace("categorical = [\"city\"]", "categorical = [\"city\", \"sex\"]\nallow_as_feature = [\"sex\"]"),
    );
    assert!(ok.is_ok());
    let err = plan(&with("pii = [\"city\"]")).expect_err("pii feature");
    assert!(matches!(&err, Error::FeatureNotAllowed { flag, .. } if flag == "columns.pii"), "{err}");
}

#[test]
fn unknown_columns_are_errors_naming_the_key() {
    let text = with("names = [\"age\", \"city\", \"sex\", \"y\"]\n[columns.types]\nagee = \"int\"");
    let err = plan(&text).expect_err("unknown column");
    assert!(
        matches!(&err, Error::UnknownColumn { key, column, .. } if key == "columns.types" && column == "agee"),
        "{err}"
    );

    let p = plan(&with("")).expect("valid");
    let names: Vec<String> = ["age", "town", "sex", "y"].iter().map(|s| s.to_string()).collect();
    let err = p.schema(&names).expect_err("file lacks city and has town");
    assert!(matches!(&err, Error::NoRole { column, .. } if column == "town"), "{err}");
    let names: Vec<String> = ["age", "sex", "y"].iter().map(|s| s.to_string()).collect();
    let err = p.schema(&names).expect_err("file lacks city");
    assert!(
        matches!(&err, Error::UnknownColumn { column, key, .. } if column == "city" && key == "columns.categorical"),
        "{err}"
    );
}

#[test]
fn headerless_csv_needs_names() {
    let err = plan(&BASE.replace("train = \"train.csv\"", "train = \"train.csv\"\nheader = false")).expect_err("names");
    assert!(matches!(&err, Error::InvalidValue { key, .. } if key == "columns.names"), "{err}");
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        (BASE.replace("positive = \"yes\"", "positive = \"maybe\""), "columns.positive"),
        (BASE.replace("classes = [\"no\", \"yes\"]", "classes = [\"no\", \"yes\", \"x\"]"), "columns.classes"),
        (BASE.replace("train = \"train.csv\"", "train = \"train.csv\"\nseparator = \";;\""), "data.separator"),
        (BASE.replace("train = \"train.csv\"", "train = \"train.xyz\""), "data.format"),
        (format!("{BASE}\n[split]\nmethod = \"fixed\""), "split.method"),
        (format!("{BASE}\n[split]\nmethod = \"key_hash\""), "split.key"),
        (format!("{BASE}\n[split]\ntest_fraction = 1.5"), "split.test_fraction"),
        (format!("{BASE}\n[validation]\nmax_missing = 2.0"), "validation.max_missing"),
        (format!("{BASE}\n[validation.columns.city]\nmin = 3"), "validation.columns.city"),
        (with("[columns.types]\nage = \"string\""), "columns.types.age"),
    ];
    for (text, expected_key) in cases {
        match plan(&text) {
            Err(Error::InvalidValue { key, path, .. }) => {
                assert_eq!(key, expected_key);
                assert_eq!(path, Path::new("configs/cfg.toml"));
            }
            other => panic!("{expected_key}: expected InvalidValue, got {other:?}"),
        }
    }
}
