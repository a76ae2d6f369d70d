//! Versions (content hashes) and splits.

use std::collections::HashMap;

use kiln_data::config::{FileFormat, SplitConfig, SplitMethod};
use kiln_data::load::{Source, load, load_path};
use kiln_data::snapshot::file_version;
use kiln_data::split::{Part, assign, key_uniform};

use crate::common::{plan_from, small_config, write};

fn rows(n: usize) -> String {
    let mut text = String::from("x,c,y\n");
    for i in 0..n {
        let y = if i % 4 == 0 { "yes" } else { "no" };
        let c = if i % 3 == 0 { "a" } else { "b" };
        text.push_str(&format!("{}.5,{c},{y}\n", i % 97));
    }
    text
}

#[test]
fn same_data_same_hash_one_changed_cell_different_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = small_config(dir.path(), false);
    let plan = plan_from(&dir.path().join("cfg.toml"), &text).expect("plan");
    let body = rows(200);
    write(dir.path(), "train.csv", body.as_bytes());
    let a = file_version("train", &load(&plan, Source::Train, 5).expect("load")).expect("hash");
    let b = file_version("train", &load(&plan, Source::Train, 5).expect("load")).expect("hash");
    assert_eq!(a.data_hash, b.data_hash);

    // The same rows as Parquet hash the same: the hash is of the data, not the bytes.
    let table = load(&plan, Source::Train, 5).expect("load");
    let mut df = table.df.clone();
    let pq = dir.path().join("train.parquet");
    kiln_data::write::write_table(&pq, FileFormat::Parquet, &mut df).expect("write parquet");
    let c = file_version("train", &load_path(&plan, &pq, "train", 5).expect("load parquet")).expect("hash");
    assert_eq!(a.data_hash, c.data_hash);

    // One changed cell.
    let changed = body.replacen("1.5,b,no", "1.5,a,no", 1);
    assert_ne!(changed, body);
    write(dir.path(), "train.csv", changed.as_bytes());
    let d = file_version("train", &load(&plan, Source::Train, 5).expect("load")).expect("hash");
    assert_ne!(a.data_hash, d.data_hash);
    let differing: Vec<&str> =
        a.columns.iter().zip(&d.columns).filter(|(x, y)| x.hash != y.hash).map(|(x, _)| x.name.as_str()).collect();
    assert_eq!(differing, ["c"]);
}

#[test]
fn random_and_stratified_splits_are_seeded_and_sized() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = small_config(dir.path(), false);
    let plan = plan_from(&dir.path().join("cfg.toml"), &text).expect("plan");
    write(dir.path(), "train.csv", rows(1000).as_bytes());
    let table = load(&plan, Source::Train, 5).expect("load");
    let config = |method| SplitConfig { method, test_fraction: 0.2, validation_fraction: 0.25, seed: None, key: None };

    let random = assign(&config(SplitMethod::Random), 7, &table, 0).expect("random");
    assert_eq!(random.count(Part::Test), 200);
    assert_eq!(random.count(Part::Validation), 200);
    assert_eq!(random.hash(), assign(&config(SplitMethod::Random), 7, &table, 0).expect("again").hash());
    assert_ne!(random.hash(), assign(&config(SplitMethod::Random), 8, &table, 0).expect("other seed").hash());

    // 250 positives, 750 negatives: stratified keeps exactly 20% of each in test.
    let strat = assign(&config(SplitMethod::Stratified), 7, &table, 0).expect("stratified");
    let labels: Vec<bool> = (0..1000).map(|i| i % 4 == 0).collect();
    let test_pos = strat.parts.iter().zip(&labels).filter(|(p, y)| **p == Part::Test && **y).count();
    assert_eq!(test_pos, 50);
    assert_eq!(strat.count(Part::Test), 200);
    let val_pos = strat.parts.iter().zip(&labels).filter(|(p, y)| **p == Part::Validation && **y).count();
    assert_eq!(val_pos, 50, "a quarter of the 200 training positives");
}

#[test]
fn key_hash_split_keeps_each_row_on_its_side_when_rows_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = small_config(dir.path(), false)
        .replace("numeric = [\"x\"]", "numeric = [\"x\"]\nid = [\"k\"]")
        .replace("method = \"random\"", "method = \"key_hash\"\nkey = \"k\"");
    let plan = plan_from(&dir.path().join("cfg.toml"), &text).expect("plan");
    let make = |n: usize| {
        let mut t = String::from("k,x,c,y\n");
        for i in 0..n {
            t.push_str(&format!("user{i},{}.0,a,{}\n", i % 50, if i % 5 == 0 { "yes" } else { "no" }));
        }
        t
    };
    write(dir.path(), "train.csv", make(2000).as_bytes());
    let first = assign(&plan.split, plan.split_seed, &load(&plan, Source::Train, 5).expect("load"), 0).expect("split");
    write(dir.path(), "train.csv", make(3000).as_bytes());
    let second = assign(&plan.split, plan.split_seed, &load(&plan, Source::Train, 5).expect("load"), 0).expect("split");
    assert_eq!(first.parts[..], second.parts[..2000], "old rows keep their side");
    let test_share = second.count(Part::Test) as f64 / 3000.0;
    assert!((test_share - 0.25).abs() < 0.03, "{test_share}");
    // The side depends on the key alone.
    let u = key_uniform("user7", plan.split_seed);
    assert_eq!(u, key_uniform("user7", plan.split_seed));
    assert!((0.0..1.0).contains(&u));
}

#[test]
fn fixed_split_uses_the_test_file_and_unseen_categories_are_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = small_config(dir.path(), true);
    let plan = plan_from(&dir.path().join("cfg.toml"), &text).expect("plan");
    write(dir.path(), "train.csv", rows(100).as_bytes());
    write(dir.path(), "test.csv", b"x,c,y\n1,a,no\n2,b,yes\n3,c,no\n");
    let train = load(&plan, Source::Train, 5).expect("train");
    let test = load(&plan, Source::Test, 5).expect("test");
    let split = assign(&plan.split, plan.split_seed, &train, test.n_rows()).expect("split");
    assert_eq!((split.count(Part::Train), split.count(Part::Test)), (100, 3));
    let report = kiln_data::validate::validate("cfg", &plan.validation, &train, Some(&test)).expect("validate");
    let unseen: HashMap<_, _> = report
        .findings
        .iter()
        .filter(|f| f.check == kiln_data::config::Check::UnseenCategory)
        .map(|f| (f.column.clone(), f.examples.clone()))
        .collect();
    assert_eq!(unseen.get(&Some("c".to_string())), Some(&vec![3]));
    // The preprocessor, fitted on train, encodes the unseen category without error.
    let pre = kiln_data::fit::fit_preprocessor(&plan.preprocess, &train.df, &train.schema).expect("fit");
    let encoded = kiln_data::fit::encode(&pre, &test.df, &test.schema).expect("encode");
    assert_eq!(encoded.n_rows, 3);
}

#[test]
fn duplicates_are_counted_with_example_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text =
        small_config(dir.path(), false).replace("max_missing = 0.5", "max_missing = 0.5\nmax_duplicate_fraction = 0.0");
    let plan = plan_from(&dir.path().join("cfg.toml"), &text).expect("plan");
    write(dir.path(), "train.csv", b"x,c,y\n1,a,no\n2,b,yes\n1,a,no\n1,a,yes\n2,b,yes\n");
    let train = load(&plan, Source::Train, 5).expect("train");
    let report = kiln_data::validate::validate("cfg", &plan.validation, &train, None).expect("validate");
    let dup = report.findings.iter().find(|f| f.check == kiln_data::config::Check::Duplicates).expect("dups");
    assert_eq!((dup.count, dup.examples.clone()), (2, vec![3, 5]));
}
