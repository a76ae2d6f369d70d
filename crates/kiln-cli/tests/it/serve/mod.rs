//! kiln-serve over real HTTP on loopback, driven by a real client: the same numbers as
//! `kiln predict` for every model kind; registry aliases followed, a bad bundle refused;
//! the breaker's triggers and its rules fallback; errors, limits, shutdown and the
//! prediction log; `kiln rollout` driving a challenger to promotion or rollback. Every server
//! binds 127.0.0.1 on a port the system picks; every loop is bounded in count and time.

mod breaker;
mod controller;
mod limits;
mod numbers;
mod process;
mod registry;
mod replicas;
mod rollout;

use std::path::Path;
use std::time::Duration;

use kiln_core::columns::{Batch, Values};
use kiln_data::batch::{Reading, read_batch};
use kiln_serve::config::{ModelSettings, ServeConfig};
use kiln_serve::source::Source;
use serde_json::{Value, json};

use crate::repo;

/// A runtime for the server and the client.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// A config serving `models` on a loopback port the system picks.
pub(crate) fn loopback(models: Vec<ModelSettings>) -> ServeConfig {
    let mut config = ServeConfig::with_models(models);
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config
}

/// A model served from a bundle file.
pub(crate) fn from_file(name: &str, bundle: &Path) -> ModelSettings {
    ModelSettings::single(name.into(), Source::File(bundle.to_path_buf()))
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
}

/// The raw adult.test rows, read as `config` declares them.
pub(crate) fn adult_test_rows(config: &Path) -> Batch {
    let loaded = kiln_cli::run_config::load(config).expect("config");
    read_batch(Path::new(&repo("datasets/adult/adult.test")), Reading::Plan(&loaded.plan)).expect("adult.test").batch
}

fn cell(values: &Values, row: usize) -> Value {
    match values {
        Values::Int(v) => json!(v[row]),
        Values::Float(v) => json!(v[row]),
        Values::Text(v) => json!(v[row]),
        Values::Bool(v) => json!(v[row]),
    }
}

/// Rows `rows` of `batch` as a rows request.
pub(crate) fn instances(batch: &Batch, rows: std::ops::Range<usize>) -> Value {
    let instances: Vec<Value> = rows
        .map(|r| Value::Object(batch.columns.iter().map(|(name, values)| (name.clone(), cell(values, r))).collect()))
        .collect();
    json!({ "instances": instances })
}

/// Rows `rows` of `batch` as an Open Inference Protocol request.
pub(crate) fn v2_inputs(batch: &Batch, rows: std::ops::Range<usize>) -> Value {
    let n = rows.len();
    let inputs: Vec<Value> = batch
        .columns
        .iter()
        .map(|(name, values)| {
            let datatype = kiln_serve::protocol::v2_datatype(values.dtype());
            let data: Vec<Value> = rows.clone().map(|r| cell(values, r)).collect();
            json!({ "name": name, "shape": [n], "datatype": datatype, "data": data })
        })
        .collect();
    json!({ "inputs": inputs })
}

/// POST `body` to `url`; (status, JSON body, headers).
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = client.post(url).json(body).send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), headers)
}

/// GET `url`; (status, body text).
pub(crate) async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let response = client.get(url).send().await.expect("request");
    (response.status().as_u16(), response.text().await.expect("body"))
}

/// The probabilities `p_>50K` of a rows answer.
pub(crate) fn row_probabilities(answer: &Value) -> Vec<f64> {
    answer["predictions"].as_array().expect("predictions").iter().map(|p| p["p_>50K"].as_f64().expect("p")).collect()
}

/// The value of a metric line that starts with `prefix` in a Prometheus exposition.
pub(crate) fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

/// One row of the prediction log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Logged {
    pub request_id: String,
    pub row: u32,
    pub route: String,
    pub version: i64,
}

/// Every row of every segment under `dir`, sorted.
pub(crate) fn logged_rows(dir: &Path) -> Vec<Logged> {
    use arrow_array::{Int64Array, StringArray, UInt32Array};
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("dir").map_while(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(".arrows") {
                files.push(path);
            }
        }
    }
    let mut rows = Vec::new();
    for file in files {
        let reader = arrow_ipc::reader::StreamReader::try_new(std::fs::File::open(&file).expect("open"), None);
        for batch in reader.expect("stream").map_while(Result::ok) {
            let column = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("{name}")).clone();
            let (ids, row, route, version) = (column("request_id"), column("row"), column("route"), column("version"));
            let ids = ids.as_any().downcast_ref::<StringArray>().expect("utf8");
            let row = row.as_any().downcast_ref::<UInt32Array>().expect("u32");
            let route = route.as_any().downcast_ref::<StringArray>().expect("utf8");
            let version = version.as_any().downcast_ref::<Int64Array>().expect("i64");
            rows.extend((0..batch.num_rows()).map(|i| Logged {
                request_id: ids.value(i).to_owned(),
                row: row.value(i),
                route: route.value(i).to_owned(),
                version: version.value(i),
            }));
        }
    }
    rows.sort();
    rows
}

/// Start a `kiln serve` process from `command` (its arguments set, binding port 0) and wait for
/// the address it reports on stderr (at most `wait`); the child and `http://ADDR`.
pub(crate) fn spawn_server(
    command: &mut std::process::Command,
    wait: std::time::Duration,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = command
        .env("KILN_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kiln serve");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("addr=").nth(1).and_then(|rest| rest.split_whitespace().next()) {
                let _ = sender.send(addr.to_owned());
            }
        }
    });
    let addr = receiver.recv_timeout(wait).expect("kiln serve reports its address");
    (child, format!("http://{addr}"))
}
