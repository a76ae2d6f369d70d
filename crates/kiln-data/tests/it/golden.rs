//! Golden values that protect a dataset's identity: the content hashes of the shipped Adult
//! data, schema and split (pinned in `tests/fixtures/adult_hashes.json`), and the
//! preprocessor's encoding of a few Adult test rows, recomputed independently with pandas
//! and numpy by `scripts/fixtures/adult_preprocess.py` (`tests/fixtures/adult_preprocess.json`).
//! A change of loading, typing, hashing, splitting or encoding (a polars upgrade included)
//! fails here instead of silently giving the same data a new identity.

use kiln_data::load::{Source, Table, load};
use kiln_data::snapshot::{file_version, snapshot};
use kiln_data::split::{self, Part, Split};
use serde_json::Value;

use crate::common::adult_plan;

fn hashes() -> Value {
    serde_json::from_str(include_str!("../fixtures/adult_hashes.json")).expect("fixture JSON")
}

fn adult() -> (Table, Table, Split, kiln_data::plan::DataPlan) {
    let plan = adult_plan();
    let train = load(&plan, Source::Train, 5).expect("train");
    let test = load(&plan, Source::Test, 5).expect("test");
    let split = split::assign(&plan.split, plan.split_seed, &train, test.n_rows()).expect("split");
    (train, test, split, plan)
}

#[test]
fn adult_snapshot_hashes_are_pinned() {
    let golden = hashes();
    let (train, test, split, _) = adult();
    let snap = snapshot("configs/adult.toml", &train, Some(&test), &split).expect("snapshot");
    assert_eq!(snap.schema_hash, golden["schema_hash"].as_str().expect("schema_hash"));
    for file in &snap.files {
        let expected = &golden["files"][&file.role];
        assert_eq!(file.n_rows, expected["n_rows"].as_u64().expect("n_rows"), "{}", file.role);
        assert_eq!(file.data_hash, expected["data_hash"].as_str().expect("data_hash"), "{} data", file.role);
    }
    let s = &golden["split"];
    assert_eq!(snap.split.method, s["method"].as_str().expect("method"));
    assert_eq!(snap.split.seed, s["seed"].as_u64().expect("seed"));
    assert_eq!(snap.split.hash, s["hash"].as_str().expect("split hash"));
    assert_eq!(snap.dataset_hash, golden["dataset_hash"].as_str().expect("dataset_hash"));
}

#[test]
fn adult_split_part_hashes_are_pinned() {
    let golden = hashes();
    let (train, test, split, _) = adult();
    for part in Part::ALL {
        let df = if part == Part::Test { test.df.clone() } else { split.select(&train.df, part).expect("select") };
        let table = Table { path: train.path.clone(), df, schema: train.schema.clone(), findings: Vec::new() };
        let version = file_version(part.as_str(), &table).expect("hash");
        let expected = &golden["split"]["parts"][part.as_str()];
        assert_eq!(version.n_rows, expected["n_rows"].as_u64().expect("n_rows"), "{}", part.as_str());
        assert_eq!(version.data_hash, expected["data_hash"].as_str().expect("data_hash"), "{}", part.as_str());
    }
}

#[test]
fn adult_encoding_matches_the_pandas_reference() {
    let fixture: Value = serde_json::from_str(include_str!("../fixtures/adult_preprocess.json")).expect("fixture JSON");
    let (train, test, split, plan) = adult();
    let train_part = split.select(&train.df, Part::Train).expect("select");
    assert_eq!(train_part.height() as u64, fixture["n_train_rows"].as_u64().expect("n_train_rows"));
    let pre = kiln_data::fit::fit_preprocessor(&plan.preprocess, &train_part, &train.schema).expect("fit");
    let names: Vec<&str> =
        fixture["dense_names"].as_array().expect("names").iter().map(|v| v.as_str().expect("name")).collect();
    assert_eq!(pre.dense_names(), names);
    let encoded = kiln_data::fit::encode(&pre, &test.df, &test.schema).expect("encode");
    let rows = fixture["test_rows"].as_array().expect("rows");
    for (row, expected) in rows.iter().zip(fixture["dense"].as_array().expect("dense")) {
        let row = row.as_u64().expect("row") as usize;
        let got = &encoded.dense[row * encoded.n_dense..(row + 1) * encoded.n_dense];
        for ((name, g), e) in names.iter().zip(got).zip(expected.as_array().expect("a row")) {
            let e = e.as_f64().expect("a number");
            // kiln stores features as f32.
            assert!((f64::from(*g) - e).abs() <= 1e-6 * e.abs().max(1.0), "row {row} {name}: {g} vs {e}");
        }
    }
}
