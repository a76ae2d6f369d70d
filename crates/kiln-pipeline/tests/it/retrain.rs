//! `kiln retrain` as a library on real parts: a small Adult project trained and registered as
//! the champion, a real prediction log (kiln-log's `PredictionLog`) of rows the champion
//! answered, their labels in the label store, a real SQLite store. A challenger trained with
//! the labelled rows passes and gets the alias `challenger`; one trained on shuffled labels is
//! refused; the judging rows never reach the dataset; a second retraining is refused while one
//! holds the lock; a retraining killed mid-run is marked interrupted and the next one succeeds;
//! lineage goes back to the original data.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use kiln_core::columns::{Batch, Values};
use kiln_eval::gates::Status;
use kiln_log::{Entry, LogSettings, PredictionLog, Route};
use kiln_pipeline::progress::Silent;
use kiln_pipeline::retrain::{RetrainOutcome, RetrainRequest, Retrained, retrain};
use kiln_pipeline::run::{Outcome, RunOptions, run};
use kiln_pipeline::track::StoreTracker;
use kiln_pipeline::train::TrainOptions;
use kiln_track::{Promotion, RunFilter, RunStatus, Store};
use polars::prelude::{
    Column, DataFrame, Int64Chunked, IntoColumn, NewChunkedArray, ParquetReader, SerReader, StringChunked,
    UInt32Chunked,
};

const NAMES: [&str; 15] = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
];
const INTS: [&str; 6] = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"];
/// Original training rows, test rows, logged rows.
const TRAIN: usize = 3000;
const TEST: usize = 1500;
const LOGGED: usize = 1500;
/// `judge_share = 0.3` of 1,500 labelled keys: the newest 450 judge.
const JUDGED: usize = 450;
/// Logged rows get `fnlwgt = TAG + i`, a value no Adult row has, so the dataset shows which
/// logged rows it holds.
const TAG: i64 = 2_000_000;
const CHILD_ENV: &str = "KILN_RETRAIN_CHILD_STORE";

fn config_text(retrain: &str) -> String {
    let names = NAMES.map(|n| format!("\"{n}\"")).join(", ");
    let ints = INTS.map(|n| format!("{n} = \"int\"")).join("\n");
    format!(
        r#"[project]
name = "adult"
task = "binary"
seed = 42

[data]
train = "train.data"
test = "test.data"
format = "csv"
header = false
trim_whitespace = true
missing = ["?"]

[data.map.income]
"<=50K." = "<=50K"
">50K." = ">50K"

[columns]
names = [{names}]
target = "income"
classes = ["<=50K", ">50K"]
positive = ">50K"
numeric = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
categorical = ["workclass", "education", "marital_status", "occupation", "relationship", "native_country", "race", "sex"]
segment = ["sex"]
allow_as_feature = []

[columns.types]
{ints}

[validation]
min_rows = 1000
max_missing = 0.1

[split]
method = "fixed"
validation_fraction = 0.1
seed = 42

[[models]]
kind = "prior"

[[models]]
kind = "gbdt"
name = "gbdt"
num_iterations = 30

[evaluation]
min_slice_size = 30
ci = {{ method = "bootstrap", replicates = 200, level = 0.95, seed = 7 }}

[[evaluation.slices]]
by = ["sex"]

[monitoring]
drift_share = 0.05

[acceptance]
decide_by = "ci"

[[acceptance.metrics]]
metric = "roc_auc"
min = 0.8

[retrain]
{retrain}
"#
    )
}

/// Lines of a shipped Adult file, comment line left out.
fn adult_lines(file: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/adult").join(file);
    let text = std::fs::read_to_string(path).expect("adult file");
    text.lines().filter(|l| !l.starts_with('|') && !l.trim().is_empty()).map(str::to_string).collect()
}

/// A deterministic permutation of `0..n` (a seeded Fisher-Yates).
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        p.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    p
}

/// The label (the last field, without the test file's period) of an Adult line.
fn label_of(line: &str) -> String {
    line.rsplit(", ").next().expect("a label").trim().trim_end_matches('.').to_string()
}

struct Project {
    dir: tempfile::TempDir,
    config: kiln_pipeline::config::LoadedConfig,
    store: PathBuf,
    log: PathBuf,
    /// When the logged requests arrived: request `i` at `t0 + i` minutes.
    t0: i64,
}

impl Project {
    /// A project on the first Adult rows (`good.data`); its config's training file
    /// (`train.data`) is the same rows, or with `shuffled` the same rows with permuted labels.
    fn new(retrain_section: &str, shuffled: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let train = adult_lines("adult.data");
        let mut train: Vec<String> = train[..TRAIN].to_vec();
        std::fs::write(dir.path().join("good.data"), train.join("\n") + "\n").expect("train");
        if shuffled {
            let labels: Vec<String> = train.iter().map(|l| label_of(l)).collect();
            for (line, p) in train.iter_mut().zip(permutation(TRAIN, 11)) {
                let cut = line.rfind(", ").expect("fields");
                *line = format!("{}, {}", &line[..cut], labels[p]);
            }
        }
        std::fs::write(dir.path().join("train.data"), train.join("\n") + "\n").expect("train");
        let test = adult_lines("adult.test");
        std::fs::write(dir.path().join("test.data"), test[..TEST].join("\n") + "\n").expect("test");
        let config_path = dir.path().join("adult.toml");
        std::fs::write(&config_path, config_text(retrain_section)).expect("config");
        let config = kiln_pipeline::config::load(&config_path).expect("config loads");
        let store = dir.path().join(".kiln/kiln.db");
        let log = dir.path().join("log");
        let t0 = kiln_track::now_ms() - 3 * 86_400_000;
        Project { dir, config, store, log, t0 }
    }

    /// Train and register the champion, always on the true labels (`good.data`).
    fn champion(&self) {
        let path = self.dir.path().join("adult.toml");
        let text = std::fs::read_to_string(&path).expect("config").replace("\"train.data\"", "\"good.data\"");
        let config = kiln_pipeline::config::parse(&path, &text).expect("the champion's config");
        let train = TrainOptions {
            backend: kiln_train::backend::Backend::native(),
            command: "run",
            resume: None,
            checkpoint_every: 0,
        };
        let bundle = self.dir.path().join("champion.safetensors");
        let report = self.dir.path().join("champion-report");
        let options = RunOptions { train: &train, report_dir: Some(&report), export: Some(Some(&bundle)), judge: None };
        let mut tracker = StoreTracker::new(&self.store);
        let Outcome::Done(summary) = run(config, &options, &mut tracker, &Silent).expect("champion run") else {
            panic!("the champion's data passes validation")
        };
        assert_eq!(summary.exported.expect("exported").1, 1);
        let store = Store::open(&self.store).expect("store");
        let promotion = Promotion { name: "adult", version: 1, alias: "champion", actor: "test", force: None };
        store.promote(&promotion).expect("promote the champion");
    }

    /// `LOGGED` requests of one Adult test row each, answered by v1 (every tenth also by a
    /// shadow), and their labels: true, or permuted among the older rows with `corrupt_older`.
    fn log_and_label(&self, corrupt_older: bool) -> Vec<String> {
        let lines = adult_lines("adult.test");
        let lines = &lines[TEST..TEST + LOGGED];
        let log = PredictionLog::start(LogSettings::new(&self.log)).expect("log");
        for (i, line) in lines.iter().enumerate() {
            let entry = entry(i, line, self.t0);
            if i % 10 == 0 {
                log.append(Entry { route: Route::Shadow, ..entry.clone() });
            }
            log.append(entry);
        }
        let stats = log.close().expect("close the log");
        assert_eq!(stats.rows_written as usize, LOGGED + LOGGED / 10);
        let mut labels: Vec<String> = lines.iter().map(|l| label_of(l)).collect();
        if corrupt_older {
            let older = LOGGED - JUDGED;
            let permuted: Vec<String> = permutation(older, 5).into_iter().map(|p| labels[p].clone()).collect();
            labels[..older].clone_from_slice(&permuted);
        }
        let now = kiln_track::now_ms() + 1_000;
        let ids: Vec<String> = (0..LOGGED).map(request_id).collect();
        let columns: Vec<Column> = vec![
            StringChunked::from_iter_values("request_id".into(), ids.iter().map(String::as_str)).into_column(),
            UInt32Chunked::from_iter_options("row".into(), (0..LOGGED).map(|_| Some(0))).into_column(),
            StringChunked::from_iter_values("label".into(), labels.iter().map(String::as_str)).into_column(),
            Int64Chunked::from_vec("labelled_at".into(), vec![now; LOGGED]).into_column(),
            Int64Chunked::from_vec("ingested_at".into(), vec![now; LOGGED]).into_column(),
            StringChunked::from_iter_values("source".into(), ids.iter().map(|_| "outcomes.csv")).into_column(),
            StringChunked::from_iter_values("source_sha256".into(), ids.iter().map(|_| "0")).into_column(),
        ];
        let mut df = DataFrame::new_infer_height(columns).expect("labels");
        let path = self.log.join("adult/labels/20261206T120000Z-0001.parquet");
        std::fs::create_dir_all(path.parent().expect("folder")).expect("labels folder");
        kiln_data::write::write_table(&path, kiln_data::config::FileFormat::Parquet, &mut df).expect("write labels");
        labels
    }

    fn request(&self) -> RetrainRequest<'_> {
        RetrainRequest {
            config: &self.config,
            model: "adult@champion",
            log_dir: &self.log,
            store: &self.store,
            min_new_labels: None,
            on_drift: false,
            wait: false,
            now_ms: kiln_track::now_ms(),
            backend: kiln_train::backend::Backend::native(),
            report_dir: None,
        }
    }
}

fn request_id(i: usize) -> String {
    format!("r{i:04}")
}

/// Request `i`: the inputs of an Adult line (every column but the label; `fnlwgt` tagged).
fn entry(i: usize, line: &str, t0: i64) -> Entry {
    let fields: Vec<&str> = line.split(", ").map(str::trim).collect();
    let mut columns = Vec::new();
    for (name, value) in NAMES.iter().zip(&fields).take(NAMES.len() - 1) {
        let values = if *name == "fnlwgt" {
            Values::Int(vec![Some(TAG + i as i64)])
        } else if INTS.contains(name) {
            Values::Int(vec![Some(value.parse().expect("an int"))])
        } else {
            Values::Text(vec![(*value != "?").then(|| value.to_string())])
        };
        columns.push((name.to_string(), values));
    }
    Entry {
        request_id: request_id(i),
        time_ms: t0 + i as i64 * 60_000,
        model: "adult".into(),
        version: 1,
        route: Route::Primary,
        latency_ms: 1.0,
        inputs: Arc::new(Batch::new(columns)),
        outputs: Batch::new(vec![("p_>50K".into(), Values::Float(vec![Some(0.5)]))]),
    }
}

fn done(outcome: RetrainOutcome) -> Retrained {
    match outcome {
        RetrainOutcome::Done(done) => *done,
        other => panic!("the retraining ran: {other:?}"),
    }
}

/// The logged rows (by their tagged `fnlwgt`) in a dataset file.
fn logged_in(dataset: &Path) -> BTreeSet<i64> {
    let file = std::fs::File::open(dataset).expect("dataset");
    let df = ParquetReader::new(file).finish().expect("parquet");
    let fnlwgt = df.column("fnlwgt").expect("fnlwgt").i64().expect("ints").clone();
    fnlwgt.iter().flatten().filter(|&v| v >= TAG).map(|v| v - TAG).collect()
}

/// Child body: take the retraining lock, start a retraining run, and die without ending it.
#[test]
fn child_dies_mid_retraining() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let store = Store::open(Path::new(&path)).expect("open");
    let _lock = store.lock("retrain-adult").expect("lock").expect("free");
    let run = kiln_track::NewRun {
        name: "adult".into(),
        command: "retrain".into(),
        params: [("retrain.parent".to_string(), "adult@v1".to_string())].into(),
        kiln_version: "test".into(),
        ..kiln_track::NewRun::default()
    };
    let handle = store.start_run(&run).expect("start");
    std::mem::forget(handle);
    std::process::abort();
}

#[test]
fn a_challenger_with_the_logged_labels_passes_after_an_interrupted_one_and_a_refused_second() {
    let project = Project::new("judge_share = 0.3\nmin_judge_rows = 200\nmargin = 0.05", false);
    project.champion();
    project.log_and_label(false);

    // not triggered: too few new labels
    let mut request = project.request();
    request.min_new_labels = Some(100_000);
    let RetrainOutcome::NotTriggered(skip) = retrain(&request, &Silent).expect("retrain") else {
        panic!("too few new labels")
    };
    assert_eq!((skip.new_labels, skip.labelled_rows, skip.judge_rows), (LOGGED, LOGGED, JUDGED));
    assert!(skip.reason.contains("1500 new label(s)"), "{}", skip.reason);

    // a retraining killed mid-run leaves a `running` run and no lock
    let status = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "retrain::child_dies_mid_retraining", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &project.store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the child");
    assert!(!status.success(), "the child aborts");
    let store = Store::open(&project.store).expect("store");
    let killed = store.list_runs(&RunFilter::default()).expect("runs");
    let killed = killed.iter().find(|r| r.command == "retrain").expect("the killed run").id.clone();
    assert_eq!(store.show_run(killed.as_str()).expect("show").status, RunStatus::Interrupted);

    // a second retraining while one holds the lock is refused, naming the holder
    let other = Store::open(&project.store).expect("second handle");
    let held = other.lock("retrain-adult").expect("lock").expect("free after the kill");
    let err = retrain(&project.request(), &Silent).expect_err("refused");
    let message = err.to_string();
    assert!(message.contains(&format!("process {}", std::process::id())), "{message}");
    assert!(matches!(err, kiln_pipeline::Error::RetrainBusy { .. }));
    drop(held);

    // asked for drift: the logged rows' tagged `fnlwgt` (2,000,000 and up) drifted
    let mut request = project.request();
    request.on_drift = true;
    let done = done(retrain(&request, &Silent).expect("retrain"));
    assert_eq!(done.drift, Some(true));
    assert_eq!(done.interrupted, vec![killed.to_string()]);
    assert_eq!((done.champion.as_str(), done.version), ("adult@v1", 2));
    assert!(done.passed && done.aliased, "{:#?}", done.verdict.reasons);
    assert_eq!(store.resolve_alias("adult", "challenger").expect("alias").version, 2);
    assert_eq!(store.resolve_alias("adult", "champion").expect("alias").version, 1, "the champion stays");

    // the dataset: the original rows plus the older labelled rows, never a judging row
    let manifest = &done.dataset;
    assert_eq!((manifest.rows_added, manifest.judge_rows), ((LOGGED - JUDGED) as u64, JUDGED as u64));
    assert_eq!(manifest.rows_deduplicated, (LOGGED / 10) as u64, "the shadow copies");
    assert_eq!(manifest.rows, (TRAIN + LOGGED - JUDGED) as u64);
    assert_eq!(manifest.original.rows, TRAIN as u64);
    assert_eq!(manifest.judge_cutoff_ms, project.t0 + (LOGGED - JUDGED) as i64 * 60_000);
    assert_eq!(manifest.parent, "adult@v1");
    let in_dataset = logged_in(Path::new(&manifest.path));
    assert_eq!(in_dataset, (0..(LOGGED - JUDGED) as i64).collect::<BTreeSet<_>>());
    assert_eq!(manifest.segments.len(), 1);
    for file in manifest.segments.iter().chain(&manifest.label_files) {
        assert_eq!(file.sha256, kiln_track::sha256_file(Path::new(&file.path)).expect("hash"));
    }
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&done.manifest_path).expect("manifest")).expect("json");
    assert_eq!(on_disk["format"], "kiln.dataset.v1");
    assert_eq!(on_disk["hash"], manifest.hash.as_str());

    // the verdict: every gate and the paired tests, overall and per sex, recorded on the run
    let verdict = &done.verdict;
    assert_eq!((verdict.metric.as_str(), verdict.judge_rows), ("roc_auc", JUDGED));
    let groups: Vec<(&str, &str)> = verdict.tests.iter().map(|t| (t.slicing.as_str(), t.group.as_str())).collect();
    assert_eq!(groups, vec![("overall", "all"), ("sex", "Female"), ("sex", "Male")]);
    assert!(verdict.tests.iter().all(|t| t.status == Status::Pass && t.lower.expect("lower") > -0.05));
    assert!(verdict.gates.passed && verdict.tested.passed);
    let run = store.show_run(&done.run_id).expect("run");
    assert_eq!((run.command.as_str(), run.status), ("retrain", RunStatus::Finished));
    assert_eq!(run.params["retrain.parent"], "adult@v1");
    assert_eq!(run.params["retrain.dataset_hash"], manifest.hash);
    assert_eq!(run.params["retrain.verdict"], "passed");
    assert_eq!(run.final_metrics["retrain.passed"], 1.0);
    assert!(run.artifacts.iter().any(|a| a.path.ends_with("judge/verdict.json")));
    let version = store.model_version("adult", 2).expect("v2");
    assert!(version.passed);
    assert_eq!(version.verdict["tests"][0]["status"], "pass");

    // lineage: challenger → its dataset → the champion → the original data
    let lineage = store.lineage("adult@challenger").expect("lineage");
    let link = lineage.retrain.as_ref().expect("a retrained version");
    assert_eq!(link.parent, "adult@v1");
    assert_eq!(link.manifest.as_ref().expect("manifest")["original"]["rows"], TRAIN as u64);
    let parent = lineage.parent.as_deref().expect("the parent");
    assert_eq!(parent.model_version.as_ref().expect("v1").version, 1);
    assert!(parent.retrain.is_none() && parent.parent.is_none(), "v1 came from the original data");
    assert_eq!(parent.data.data_hash.as_deref().map(str::len), Some(64));
    let audit = store.verify_audit().expect("audit");
    assert!(audit.ok, "{audit:?}");
}

#[test]
fn a_challenger_trained_on_shuffled_labels_is_refused() {
    let project = Project::new("judge_share = 0.3\nmin_judge_rows = 200\nmargin = 0.05", true);
    project.champion();
    project.log_and_label(true);

    let done = done(retrain(&project.request(), &Silent).expect("retrain"));
    assert!(!done.passed && !done.aliased);
    let overall = &done.verdict.tests[0];
    assert_eq!((overall.slicing.as_str(), overall.status), ("overall", Status::Fail));
    assert!(overall.challenger.expect("auc") < 0.65 && overall.champion.expect("auc") > 0.8, "{overall:?}");
    assert!(!done.verdict.gates.passed, "roc_auc >= 0.8 fails on the judging rows");
    assert!(done.verdict.reasons.iter().any(|r| r.starts_with("delong overall")), "{:?}", done.verdict.reasons);
    let store = Store::open(&project.store).expect("store");
    let version = store.model_version("adult", 2).expect("registered");
    assert!(!version.passed, "registered as failed");
    assert!(store.resolve_alias("adult", "challenger").is_err(), "not aliased");
    assert_eq!(store.show_run(&done.run_id).expect("run").params["retrain.verdict"], "failed");
}

const DRILL_ENV: &str = "KILN_RETRAIN_DRILL_DIR";

/// Child body: retrain the project in the drill folder; `KILN_FAILPOINT` kills it on the way.
#[test]
fn child_retrains_until_killed() {
    let Ok(dir) = std::env::var(DRILL_ENV) else { return };
    let dir = Path::new(&dir);
    let config = kiln_pipeline::config::load(&dir.join("adult.toml")).expect("config");
    let (store, log) = (dir.join(".kiln/kiln.db"), dir.join("log"));
    let request = RetrainRequest {
        config: &config,
        model: "adult@champion",
        log_dir: &log,
        store: &store,
        min_new_labels: None,
        on_drift: false,
        wait: false,
        now_ms: kiln_track::now_ms(),
        backend: kiln_train::backend::Backend::native(),
        report_dir: None,
    };
    let _ = retrain(&request, &Silent);
}

#[test]
fn a_retraining_killed_at_each_stage_leaves_the_registry_consistent_and_the_next_one_succeeds() {
    let project = Project::new("judge_share = 0.3\nmin_judge_rows = 200\nmargin = 0.05", false);
    project.champion();
    project.log_and_label(false);
    let points = ["retrain.locked", "retrain.dataset", "retrain.judged", "retrain.registered", "retrain.recorded"];
    for point in points {
        let status = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "retrain::child_retrains_until_killed", "--nocapture", "--test-threads=1"])
            .env(DRILL_ENV, project.dir.path())
            .env(kiln_pipeline::failpoint::ENV, point)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run the child");
        assert!(!status.success(), "killed at {point}");
        let store = Store::open(&project.store).expect("store");
        assert!(store.integrity_check().expect("integrity").is_empty(), "{point}");
        assert!(store.verify_audit().expect("audit").ok, "{point}");
        assert_eq!(store.resolve_alias("adult", "champion").expect("champion").version, 1, "{point}");
        assert!(store.resolve_alias("adult", "challenger").is_err(), "{point}: no challenger yet");
        for version in store.model_versions("adult").expect("versions") {
            assert!(Path::new(&version.bundle_path).is_file(), "{point}: every version's bundle exists");
        }
        assert!(store.lock("retrain-adult").expect("lock").is_some(), "{point}: the lock died with its holder");
        let running = store.list_runs(&RunFilter { status: Some(RunStatus::Running), ..RunFilter::default() });
        assert!(running.expect("runs").is_empty(), "{point}: no run is left running");
    }
    // killed after training (judged) leaves an interrupted run; after registering, a finished
    // one and a registered version without the alias
    let store = Store::open(&project.store).expect("store");
    let retrainings = store.list_runs(&RunFilter::default()).expect("runs");
    let statuses: Vec<RunStatus> =
        retrainings.iter().filter(|r| r.command == "retrain").map(|r| r.status).rev().collect();
    assert_eq!(statuses, vec![RunStatus::Interrupted, RunStatus::Finished, RunStatus::Finished]);
    let versions = store.model_versions("adult").expect("versions");
    assert_eq!(versions.len(), 3, "the champion and the two challengers registered before their kill");

    let done = done(retrain(&project.request(), &Silent).expect("retrain"));
    assert!(done.passed && done.aliased);
    assert_eq!(done.version, 4);
    assert!(done.interrupted.is_empty(), "the interrupted run came before the last one that ended");
    assert_eq!(store.resolve_alias("adult", "challenger").expect("alias").version, 4);
}
