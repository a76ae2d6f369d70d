//! `kiln data ...` end to end on real files.

use crate::{kiln, repo};

#[test]
fn describe_in_three_formats() {
    let config = repo("configs/adult.toml");
    let (code, table, err) = kiln(&["-q", "data", "describe", &config]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("32561 rows") && table.contains("16281 rows"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("age") && l.contains("numeric") && l.contains("17")), "{table}");
    assert!(table.contains("label balance"));
    let (code, json, _) = kiln(&["-q", "data", "describe", &config, "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v[0]["n_rows"], 32561);
    assert_eq!(v[0]["labels"][1]["value"], ">50K");
    assert_eq!(v[0]["labels"][1]["count"], 7841);
    let (code, md, _) = kiln(&["-q", "data", "describe", &config, "--format", "markdown"]);
    assert_eq!(code, 0);
    assert!(md.contains("| column | role | type |") && md.contains("| --- |"), "{md}");
}

#[test]
fn validate_passes_on_adult_and_fails_with_every_finding_on_bad_data() {
    let (code, out, err) = kiln(&["-q", "data", "validate", &repo("configs/adult.toml")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("passed"), "{out}");

    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) =
        kiln(&["-q", "data", "synth", "--rows", "3000", "--out", &dir.path().join("s.csv").display().to_string()]);
    assert_eq!(code, 0, "{err}");
    // Break the data three ways: text in a numeric column, a label outside its domain, an
    // age out of range.
    let csv = std::fs::read_to_string(dir.path().join("s.csv")).expect("csv");
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect("column");
    let (age, label, tenure) = (col("age"), col("label"), col("tenure"));
    let mut edit = |row: usize, idx: usize, value: &str| {
        let mut fields: Vec<String> = lines[row].split(',').map(str::to_string).collect();
        fields[idx] = value.to_string();
        lines[row] = fields.join(",");
    };
    edit(10, tenure, "lots");
    edit(20, label, "unknown");
    edit(30, age, "140");
    std::fs::write(dir.path().join("s.csv"), lines.join("\n") + "\n").expect("write");
    let config = dir.path().join("s.toml").display().to_string();
    let (code, out, _) = kiln(&["-q", "data", "validate", &config, "--format", "json"]);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["passed"], false);
    let findings = v["findings"].as_array().expect("findings");
    let find = |check: &str| findings.iter().find(|f| f["check"] == check).unwrap_or_else(|| panic!("{check}: {out}"));
    assert_eq!(find("type")["column"], "tenure");
    assert_eq!(find("type")["examples"][0], 10);
    assert_eq!(find("label")["examples"][0], 20);
    assert_eq!(find("range")["column"], "age");
    assert_eq!(find("range")["examples"][0], 30);

    // Other commands refuse such data with exit 2 and write nothing.
    let out_dir = dir.path().join("splits");
    let (code, _, err) = kiln(&["-q", "data", "split", &config, "--out", &out_dir.display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("tenure") && err.contains("s.csv"), "{err}");
    assert!(!out_dir.exists(), "nothing half-written");
}

#[test]
fn snapshot_is_reproducible_and_split_writes_parquet_with_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = repo("configs/adult.toml");
    let a = dir.path().join("a.json").display().to_string();
    let b = dir.path().join("b.json").display().to_string();
    let (code, out, err) = kiln(&["-q", "data", "snapshot", &config, "--out", &a]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dataset"), "{out}");
    assert_eq!(kiln(&["-q", "data", "snapshot", &config, "--out", &b]).0, 0);
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).expect("manifest")).expect("json")
    };
    let (ma, mb) = (read(&a), read(&b));
    assert_eq!(ma["dataset_hash"], mb["dataset_hash"]);
    assert_eq!(ma["files"][1]["n_rows"], 16281);
    assert_eq!(ma["split"]["validation"], 3256);

    let out_dir = dir.path().join("splits");
    let (code, out, err) =
        kiln(&["-q", "data", "split", &config, "--out", &out_dir.display().to_string(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let manifest: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(manifest["split_hash"], ma["split"]["hash"]);
    for (part, rows) in [("train", 29305), ("validation", 3256), ("test", 16281)] {
        let path = out_dir.join(format!("{part}.parquet"));
        let file = std::fs::File::open(&path).expect("parquet written");
        use polars::prelude::SerReader;
        let df = polars::prelude::ParquetReader::new(file).finish().expect("readable parquet");
        assert_eq!(df.height(), rows, "{part}");
    }
    assert!(out_dir.join("split.json").exists());
}

#[test]
fn bad_input_exit_codes_and_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("cfg.toml");
    std::fs::write(
        &cfg,
        "[project]\nname = \"t\"\ntask = \"binary\"\n[data]\ntrain = \"t.csv\"\n[columns]\ntarget = \"y\"\nclasses = [\"0\", \"1\"]\npositive = \"1\"\nnumeric = [\"x\"]\n",
    )
    .expect("cfg");
    let cfg = cfg.display().to_string();
    let cases: [(&[u8], &str); 4] = [
        (b"", "is empty"),
        (b"x,y\n", "no data rows"),
        (b"x,y\n1,0\n2,1,9\n", "line 3"),
        (b"x,y\n1,0\n\xff\xfe,1\n", "UTF-8"),
    ];
    for (body, needle) in cases {
        std::fs::write(dir.path().join("t.csv"), body).expect("data");
        for cmd in ["describe", "validate", "snapshot"] {
            let (code, out, err) = kiln(&["-q", "data", cmd, &cfg]);
            assert_eq!(code, 2, "{cmd} {needle}: {err}");
            assert!(out.is_empty());
            assert!(err.contains("t.csv") && err.contains(needle), "{cmd}: {err}");
        }
    }
    std::fs::remove_file(dir.path().join("t.csv")).expect("rm");
    let (code, _, err) = kiln(&["-q", "data", "validate", &cfg]);
    assert_eq!(code, 2);
    assert!(err.contains("does not exist") && err.contains("t.csv"), "{err}");
    let (code, _, err) = kiln(&["data", "frobnicate"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn synth_interactions_writes_a_config_that_loads_validates_and_splits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("i.csv").display().to_string();
    let (code, _, err) =
        kiln(&["-q", "data", "synth", "--case", "interactions", "--rows", "4000", "--seed", "5", "--out", &data]);
    assert_eq!(code, 0, "{err}");
    let config = dir.path().join("i.toml");
    let loaded = kiln_cli::run_config::load(&config).expect("the written config loads");
    let kinds: Vec<String> = loaded
        .config
        .models
        .iter()
        .map(|m| serde_json::to_value(m).expect("json")["kind"].as_str().expect("kind").to_string())
        .collect();
    assert_eq!(kinds, ["prior", "linear", "gbdt"]);
    let config = config.display().to_string();
    let (code, out, err) = kiln(&["-q", "data", "validate", &config]);
    assert_eq!(code, 0, "{out}{err}");
    let csv = std::fs::read_to_string(&data).expect("csv");
    let positives = csv.lines().filter(|l| l.ends_with(",yes")).count();
    assert!((120..=380).contains(&positives), "{positives} positives in 4000 rows (6% is 240)");
    let split = dir.path().join("split").display().to_string();
    let (code, _, err) = kiln(&["-q", "data", "split", &config, "--out", &split]);
    assert_eq!(code, 0, "{err}");
    for part in ["train", "validation", "test"] {
        assert!(dir.path().join("split").join(format!("{part}.parquet")).exists(), "{part}");
    }
}

#[test]
fn data_commands_read_a_folder_of_parquet_files_and_name_a_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::create_dir_all(dir.path().join("events")).expect("folder");
    for (i, rows) in [1200, 800, 1000].iter().enumerate() {
        let out = path(&format!("events/part-{i}.parquet"));
        let (code, _, err) = kiln(&[
            "-q",
            "data",
            "synth",
            "--rows",
            &rows.to_string(),
            "--seed",
            &i.to_string(),
            "--out",
            &out,
            "--no-config",
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = kiln(&["-q", "data", "synth", "--rows", "10", "--out", &path("one.parquet")]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(dir.path().join("one.toml")).expect("config");
    std::fs::write(dir.path().join("events.toml"), text.replace("train = \"one.parquet\"", "train = \"events\""))
        .expect("write config");
    let config = path("events.toml");

    let (code, out, err) = kiln(&["-q", "data", "validate", &config, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
    assert_eq!(v["files"][0]["n_rows"], 3000, "{out}");
    assert_eq!(v["files"][0]["path"], path("events"));
    // Three seeds of the same generator: ids repeat across files, rows do not.
    assert_eq!(code, 0, "{out}");
    let (code, out, err) = kiln(&["-q", "data", "snapshot", &config, "--out", &path("snap.json"), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let snap: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(snap["files"][0]["n_rows"], 3000);
    let (code, out, err) = kiln(&["-q", "data", "split", &config, "--out", &path("parts"), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let split: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(split["split_hash"], snap["split"]["hash"]);
    let rows: u64 = split["files"].as_array().expect("files").iter().map(|f| f["n_rows"].as_u64().expect("rows")).sum();
    assert_eq!(rows, 3000);

    // A file of other columns among them: every command names it.
    let odd = path("events/part-1b.parquet");
    let (code, _, err) =
        kiln(&["-q", "data", "synth", "--case", "interactions", "--rows", "50", "--out", &odd, "--no-config"]);
    assert_eq!(code, 0, "{err}");
    for command in ["validate", "snapshot", "describe"] {
        let (code, _, err) = kiln(&["-q", "data", command, &config]);
        assert_eq!(code, 2, "{command}: {err}");
        assert!(err.contains("part-1b.parquet") && err.contains("does not match the other files"), "{command}: {err}");
    }
}
