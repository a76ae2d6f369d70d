//! Every shipped config is valid; config mistakes are errors naming the file and the key.

use crate::kiln;

#[test]
fn every_shipped_config_parses_and_plans() {
    let dir = std::path::Path::new(&crate::repo("configs")).to_path_buf();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("configs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let loaded = kiln_cli::run_config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // The models are checked against the schema too: from the configured names, or
            // from the training file itself (a CSV header, Parquet).
            let schema = match &loaded.plan.names {
                Some(names) => loaded.plan.schema(names).expect("schema"),
                None => {
                    kiln_data::load::load(&loaded.plan, kiln_data::load::Source::Train, 5)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                        .schema
                }
            };
            kiln_train::config::ModelsSection { models: loaded.config.models.clone() }
                .validate(&schema)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 1);
}

fn broken(replace: &str, with: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(crate::repo("configs/adult.toml")).expect("adult.toml");
    assert!(text.contains(replace), "fixture text {replace:?} not in adult.toml");
    let text = text.replace(replace, with).replace("../datasets/", &format!("{}/", crate::repo("datasets")));
    let path = dir.path().join("adult.toml");
    std::fs::write(&path, text).expect("write");
    let p = path.display().to_string();
    (dir, p)
}

#[test]
fn config_errors_exit_2_and_name_file_key_and_fix() {
    let cases = [
        ("seed = 42\n\n[data]", "seed = 42\ncolour = \"red\"\n\n[data]", "colour"),
        ("target = \"income\"\n", "", "target"),
    ];
    for (from, to, needle) in cases {
        let (_d, path) = broken(from, to);
        let (code, out, err) = kiln(&["data", "validate", &path]);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty());
        assert!(err.contains("adult.toml") && err.contains(needle), "{err}");
    }
    let (_d, path) = broken("numeric = [\"age\",", "id = [\"age\"]\nnumeric = [\"age\",");
    let (code, _, err) = kiln(&["data", "describe", &path]);
    assert_eq!(code, 2);
    assert!(err.contains("two roles") && err.contains("hint:"), "{err}");
    let (_d, path) = broken("allow_as_feature = [\"sex\", \"race\"]", "");
    let (code, _, err) = kiln(&["data", "describe", &path]);
    assert_eq!(code, 2);
    assert!(err.contains("`race`") && err.contains("columns.protected") && err.contains("allow_as_feature"), "{err}");
    let (_d, path) = broken("segment = [\"sex\", \"race\"]", "segment = [\"sex\", \"gender\"]");
    let (code, _, err) = kiln(&["data", "describe", &path]);
    assert_eq!(code, 2);
    assert!(err.contains("gender") && err.contains("columns.segment"), "{err}");
}
