//! Live drift through a real server on loopback: a linear model over generated rows whose
//! bundle holds the reference of its training rows (per `sex` group, with the model's
//! scores), served with a copy of itself as shadow and a prior model as fallback.
//! In-distribution rows give gauges without drift (the shadow's window holds a copy of every
//! row); shifted rows drift `x` and `y` only, and the breaker's `input_drift` trigger hands
//! the traffic to the fallback, whose rows are not sketched. Every loop is bounded in count.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use kiln_core::bundle::{
    Architecture, Bundle, DataHashes, FORMAT_VERSION, KILN_VERSION, Manifest, ReferenceDistributions, ScoreReference,
    SegmentReference, SliceSpec, TensorData,
};
use kiln_core::columns::{Batch, Values};
use kiln_core::model::Model;
use kiln_core::preprocess::{ColumnRef, PreprocessConfig, Preprocessor};
use kiln_core::rng::Rng;
use kiln_core::schema::{Column, DType, Role, Schema, Task};
use kiln_serve::config::{BreakerSettings, ModelSettings, MonitoringSettings, ServeConfig};
use kiln_serve::source::Source;
use serde_json::{Value, json};

/// Rows: `x` ~ N(0, 1) + `shift`, `y` uniform on [0, 10) + 4 `shift`, `sex` F (40%) or M,
/// `city` a/b/c.
fn rows(seed: u64, n: usize, shift: f64) -> Batch {
    let mut rng = Rng::new(seed);
    let (mut x, mut y, mut sex, mut city) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        x.push(Some(rng.normal() + shift));
        y.push(Some(rng.uniform() * 10.0 + 4.0 * shift));
        sex.push(Some(if rng.uniform() < 0.4 { "F" } else { "M" }.to_string()));
        let u = rng.uniform();
        city.push(Some(
            if u < 0.5 {
                "a"
            } else if u < 0.8 {
                "b"
            } else {
                "c"
            }
            .to_string(),
        ));
    }
    Batch::new(vec![
        ("x".into(), Values::Float(x)),
        ("y".into(), Values::Float(y)),
        ("sex".into(), Values::Text(sex)),
        ("city".into(), Values::Text(city)),
    ])
}

fn floats(batch: &Batch, name: &str) -> Vec<Option<f64>> {
    match batch.get(name) {
        Some(Values::Float(v)) => v.clone(),
        _ => panic!("{name} is not a float column"),
    }
}

fn texts<'a>(batch: &'a Batch, name: &str) -> Vec<Option<&'a str>> {
    match batch.get(name) {
        Some(Values::Text(v)) => v.iter().map(|s| s.as_deref()).collect(),
        _ => panic!("{name} is not a text column"),
    }
}

fn column(name: &str, dtype: DType, role: Role, segment: bool) -> Column {
    Column { name: name.into(), dtype, role, segment, protected: false, pii: false }
}

fn manifest(preprocessor: Preprocessor, reference: ReferenceDistributions, architecture: Architecture) -> Manifest {
    let schema = Schema {
        task: Task::Binary,
        columns: vec![
            column("x", DType::Float, Role::Numeric, false),
            column("y", DType::Float, Role::Numeric, false),
            column("sex", DType::String, Role::Categorical, true),
            column("city", DType::String, Role::Categorical, false),
            column("label", DType::String, Role::Target, false),
        ],
        target: "label".into(),
        classes: vec!["no".into(), "yes".into()],
    };
    let schema_hash = schema.hash();
    Manifest {
        format_version: FORMAT_VERSION.into(),
        task: Task::Binary,
        schema,
        preprocessor,
        architecture,
        hyperparameters: json!({}),
        data: DataHashes { data_hash: "a".repeat(64), schema_hash, split_hash: "c".repeat(64) },
        metrics: BTreeMap::new(),
        reference,
        git_commit: None,
        git_dirty: false,
        kiln_version: KILN_VERSION.into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        device: "cpu".into(),
        decision_threshold: Some(0.5),
    }
}

/// A linear model of `x` (weight 1 on its standardized value) and a prior model, both with
/// the reference of 10,000 training rows; the linear one's scores are in the reference too.
fn bundles(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let train = rows(3, 10_000, 0.0);
    let (x, y) = (floats(&train, "x"), floats(&train, "y"));
    let (sex, city) = (texts(&train, "sex"), texts(&train, "city"));
    let columns = [
        ("x", ColumnRef::Numeric(&x)),
        ("y", ColumnRef::Numeric(&y)),
        ("sex", ColumnRef::Categorical(&sex)),
        ("city", ColumnRef::Categorical(&city)),
    ];
    let preprocessor = Preprocessor::fit(&PreprocessConfig::default(), &columns).expect("fit");
    let mut reference = ReferenceDistributions::fit(&preprocessor, &columns).expect("reference");
    reference.slicings = vec![SliceSpec { name: "sex".into(), by: vec!["sex".into()], bands: None, value: None }];
    let n_inputs = preprocessor.n_dense();
    let mut weight = vec![0.0f32; n_inputs];
    weight[0] = 1.0;
    let tensors = BTreeMap::from([
        ("linear.weight".to_string(), TensorData::from_f32(vec![1, n_inputs], &weight)),
        ("linear.bias".to_string(), TensorData::from_f32(vec![1], &[0.0])),
    ]);
    let linear = Architecture::Linear { n_inputs, n_outputs: 1 };
    let unscored = Bundle::new(manifest(preprocessor.clone(), reference.clone(), linear.clone()), tensors.clone());
    let scores = Model::from_bundle(&unscored).expect("model").predict_batch(&train).expect("scores");
    reference.scores = Some(ScoreReference::of_scores(&scores));
    for group in ["F", "M"] {
        let picked: Vec<u32> = (0..sex.len() as u32).filter(|r| sex[*r as usize] == Some(group)).collect();
        let group_scores: Vec<f64> = picked.iter().map(|r| scores[*r as usize]).collect();
        reference.segments.push(SegmentReference {
            slice: "sex".into(),
            group: group.into(),
            rows: picked.len() as u64,
            features: ReferenceDistributions::fit_rows(&preprocessor, &columns, &picked).expect("group"),
            scores: Some(ScoreReference::of_scores(&group_scores)),
        });
    }
    let model_path = dir.join("linear.safetensors");
    Bundle::new(manifest(preprocessor.clone(), reference.clone(), linear), tensors).write(&model_path).expect("write");
    let prior_path = dir.join("prior.safetensors");
    let prior = Architecture::Prior { values: vec![0.25] };
    Bundle::new(manifest(preprocessor, reference, prior), BTreeMap::new()).write(&prior_path).expect("write");
    (model_path, prior_path)
}

fn instances(batch: &Batch) -> Value {
    let cell = |values: &Values, r: usize| match values {
        Values::Float(v) => json!(v[r]),
        Values::Text(v) => json!(v[r]),
        Values::Int(v) => json!(v[r]),
        Values::Bool(v) => json!(v[r]),
    };
    let rows: Vec<Value> = (0..batch.n_rows())
        .map(|r| Value::Object(batch.columns.iter().map(|(n, v)| (n.clone(), cell(v, r))).collect()))
        .collect();
    json!({ "instances": rows })
}

/// The value of the metric line that starts with `prefix`.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

/// The labels of a group of model `m` served from the file `source` (version 0).
fn labels(source: &str, slice: &str, group: &str) -> String {
    format!("model=\"m\",source=\"{source}\",version=\"0\",slice=\"{slice}\",group=\"{group}\"")
}

fn feature_drift(text: &str, source: &str, slice: &str, group: &str, feature: &str) -> Option<f64> {
    let prefix =
        format!("kiln_serve_drift{{{},feature=\"{feature}\",statistic=\"psi\"}}", labels(source, slice, group));
    metric(text, &prefix)
}

#[test]
fn drift_gauges_follow_the_inputs_and_input_drift_opens_the_breaker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (model_path, prior_path) = bundles(dir.path());
    let source = model_path.display().to_string();
    let labels = |slice: &str, group: &str| labels(&source, slice, group);
    let feature_drift =
        |text: &str, slice: &str, group: &str, feature: &str| feature_drift(text, &source, slice, group, feature);
    // the same model as shadow, from a copy of the file: a route, and a window, of its own
    let shadow_path = dir.path().join("shadow.safetensors");
    std::fs::copy(&model_path, &shadow_path).expect("copy");
    let shadow_source = shadow_path.display().to_string();
    let mut model = ModelSettings::single("m".into(), Source::File(model_path));
    model.fallback = Some(Source::File(prior_path));
    model.shadow = Some(Source::File(shadow_path));
    // PSI over b bins of n rows drawn from the reference itself is about (b - 1) / n: 16 bins
    // and 400 rows keep that far below the threshold 0.1
    model.monitoring = MonitoringSettings { bins: 16, min_rows: 400, refresh_ms: 0, ..MonitoringSettings::default() };
    // shifted rows are outside the training range too: only input drift may open it here
    let breaker =
        BreakerSettings { input_drift_share: Some(0.5), max_unusual_share: 1.0, ..BreakerSettings::default() };
    model.breaker = breaker;
    let mut config = ServeConfig::with_models(vec![model]);
    config.bind = "127.0.0.1:0".parse().expect("addr");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let server = rt.block_on(kiln_serve::start(config)).expect("server");
    let base = format!("http://{}", server.addr());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
    let ask = |body: &Value| {
        rt.block_on(async {
            let response = client.post(format!("{base}/v1/models/m:predict")).json(body).send().await.expect("post");
            assert_eq!(response.status().as_u16(), 200);
            response.json::<Value>().await.expect("json")
        })
    };
    let metrics = || {
        rt.block_on(async {
            client.get(format!("{base}/metrics")).send().await.expect("get").text().await.expect("text")
        })
    };
    // the scoring threads add a batch after answering it (the shadow's after the answer is
    // sent): read until every row is in
    let rows_in = |source: &str, rows: f64| {
        let prefix = format!("kiln_serve_drift_window_rows{{{}}}", super::drift::labels(source, "overall", "all"));
        for _ in 0..200 {
            let text = metrics();
            if metric(&text, &prefix) == Some(rows) {
                return text;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the window of {source} never held {rows} rows:\n{}", metrics());
    };
    let metrics_with_rows = |rows: f64| rows_in(&source, rows);

    // 1. 1,200 rows drawn like the training rows: every group judged, nothing drifted
    let fresh = rows(5, 1_200, 0.0);
    for start in (0..1_200).step_by(100) {
        let part = slice(&fresh, start..start + 100);
        assert_eq!(ask(&instances(&part))["route"], "primary", "{}", metrics());
    }
    // the shadow scored a copy of every request
    rows_in(&shadow_source, 1_200.0);
    let text = metrics_with_rows(1_200.0);
    assert_eq!(
        metric(&text, &format!("kiln_serve_drifted_share{{{}}}", labels("overall", "all"))),
        Some(0.0),
        "{text}"
    );
    let female = metric(&text, &format!("kiln_serve_drift_window_rows{{{}}}", labels("sex", "F"))).expect("F rows");
    let male = metric(&text, &format!("kiln_serve_drift_window_rows{{{}}}", labels("sex", "M"))).expect("M rows");
    assert_eq!(female + male, 1_200.0);
    assert!(female >= 400.0, "{female} rows of F: too few to judge");
    for feature in ["x", "y", "sex", "city"] {
        let psi = feature_drift(&text, "overall", "all", feature).expect(feature);
        assert!(psi < 0.1, "{feature}: {psi}");
    }
    let score = format!("kiln_serve_score_drift{{{},statistic=\"psi\"}}", labels("overall", "all"));
    assert!(metric(&text, &score).expect("score drift") < 0.1);

    // 2. x and y shifted: half of the features drift, the breaker opens on input drift and
    // the prior model answers
    let shifted = rows(6, 2_000, 3.0);
    let (mut answered_by_fallback, mut scored) = (false, 0);
    for start in (0..2_000).step_by(100) {
        if ask(&instances(&slice(&shifted, start..start + 100)))["route"] == "fallback" {
            answered_by_fallback = true;
            break;
        }
        scored += 100;
    }
    assert!(answered_by_fallback, "{}", metrics());
    let text = metrics_with_rows(1_200.0 + f64::from(scored));
    assert!(text.contains("to=\"open\",trigger=\"input_drift\"} 1"), "{text}");
    assert_eq!(metric(&text, &format!("kiln_serve_drifted_share{{{}}}", labels("overall", "all"))), Some(0.5));
    for (feature, drifted) in [("x", true), ("y", true), ("sex", false), ("city", false)] {
        let psi = feature_drift(&text, "overall", "all", feature).expect(feature);
        assert_eq!(psi >= 0.1, drifted, "{feature}: {psi}");
        let psi = feature_drift(&text, "sex", "F", feature).expect(feature);
        assert_eq!(psi >= 0.1, drifted, "F {feature}: {psi}");
    }
    assert!(metric(&text, &score).expect("score drift") >= 0.1);

    // 3. while open, the fallback answers and its rows are not added to any window
    for _ in 0..3 {
        assert_eq!(ask(&instances(&slice(&fresh, 0..100)))["route"], "fallback");
    }
    let rows = format!("kiln_serve_drift_window_rows{{{}}}", labels("overall", "all"));
    assert_eq!(metric(&metrics(), &rows), Some(1_200.0 + f64::from(scored)));
    rt.block_on(server.shutdown()).expect("shutdown");
}

fn slice(batch: &Batch, range: std::ops::Range<usize>) -> Batch {
    let part = |v: &Values| match v {
        Values::Float(v) => Values::Float(v[range.clone()].to_vec()),
        Values::Text(v) => Values::Text(v[range.clone()].to_vec()),
        Values::Int(v) => Values::Int(v[range.clone()].to_vec()),
        Values::Bool(v) => Values::Bool(v[range.clone()].to_vec()),
    };
    Batch::new(batch.columns.iter().map(|(n, v)| (n.clone(), part(v))).collect())
}
