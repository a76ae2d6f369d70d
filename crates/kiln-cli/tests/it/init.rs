//! `kiln init` on the Adult training split (Parquet with a header, as `kiln data split`
//! writes it): the starter config types the columns as the hand-written configs/adult.toml
//! does, and `kiln run` passes on it as written.

use crate::{kiln_at, repo};

fn sorted(names: &[String]) -> Vec<String> {
    let mut names = names.to_vec();
    names.sort();
    names
}

#[test]
fn the_starter_config_of_the_adult_split_runs_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let splits = dir.path().join("splits");
    let (code, _, err) =
        kiln_at(&store, &["-q", "data", "split", &repo("configs/adult.toml"), "--out", &splits.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let train = splits.join("train.parquet").display().to_string();
    let config = dir.path().join("configs/adult.toml");
    let config_arg = config.display().to_string();
    let (code, out, err) = kiln_at(&store, &["-q", "init", &train, "--target", "income", "--out", &config_arg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wrote") && out.contains("binary task"), "{out}");
    let text = std::fs::read_to_string(&config).expect("the config was written");
    assert!(text.contains("train = \"../splits/train.parquet\""), "relative to the config: {text}");

    // The roles, classes and positive class the shipped config declares by hand.
    let inferred = kiln_pipeline::config::parse(&config, &text).expect("the written config loads").config;
    let shipped = kiln_pipeline::config::load(std::path::Path::new(&repo("configs/adult.toml"))).expect("adult").config;
    let (a, b) = (&inferred.columns, &shipped.columns);
    assert_eq!(sorted(&a.numeric), sorted(&b.numeric));
    assert_eq!(sorted(&a.categorical), sorted(&b.categorical));
    assert_eq!((&a.target, &a.classes, &a.positive), (&b.target, &b.classes, &b.positive));
    assert!(a.id.is_empty() && a.drop.is_empty() && a.pii.is_empty(), "nothing flagged in Adult: {a:?}");
    assert_eq!(inferred.project.task, kiln_core::schema::Task::Binary);
    // sex and race are suggested as protected attributes, in comments only.
    assert!(text.contains("# protected = [\"race\", \"sex\"]"), "{text}");
    // The shipped config's bounds are those of the whole file; the split's lie within them.
    for (column, shipped_min, shipped_max) in
        [("age", 17.0, 90.0), ("hours_per_week", 1.0, 99.0), ("education_num", 1.0, 16.0)]
    {
        let bounds = &inferred.validation.columns[column];
        let (min, max) = (bounds.min.expect("min"), bounds.max.expect("max"));
        assert!(shipped_min <= min && min < max && max <= shipped_max, "{column}: [{min}, {max}]");
    }

    let bundle = dir.path().join("model.safetensors");
    let report = dir.path().join("report");
    let args = ["-q", "run", &config_arg, "--out", &report.display().to_string()];
    let (code, out, err) =
        kiln_at(&store, &[&args[..], &["--bundle", &bundle.display().to_string(), "--format", "json"]].concat());
    assert_eq!(code, 0, "{err}{out}");
    let result: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(result["bundle"].is_string(), "a model passed the gates and was exported: {out}");
    assert!(bundle.exists() && report.join("report.md").exists());
    assert_eq!(std::fs::read_to_string(&config).expect("config"), text, "kiln run left the config as written");

    // A second init leaves the file alone unless forced.
    let (code, _, err) = kiln_at(&store, &["-q", "init", &train, "--target", "income", "--out", &config_arg]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    let (code, _, err) =
        kiln_at(&store, &["-q", "init", &train, "--target", "age_band", "--out", &config_arg, "--force"]);
    assert_eq!(code, 2);
    assert!(err.contains("age_band") && err.contains("income"), "{err}");
    let (code, _, err) = kiln_at(&store, &["-q", "init", &train, "--target", "sex", "--out", &config_arg, "--force"]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("target = \"sex\""), "{text}");
}
