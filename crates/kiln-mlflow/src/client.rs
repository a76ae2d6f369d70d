//! A blocking client of MLflow's tracking REST API (`/api/2.0/mlflow/...`) and of its artifact
//! proxy (`/api/2.0/mlflow-artifacts/artifacts/...`): the few calls the export makes, each
//! turning MLflow's answer, or the lack of one, into a typed [`Error`] that names the URL.
//!
//! It knows nothing of kiln's store; `export` decides what to send.

use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// How long to wait for a connection to the tracking server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one request may take (an artifact upload of a large bundle included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// The most rows of a search page MLflow accepts for model versions.
const VERSIONS_PAGE: usize = 1000;

/// A connection to one MLflow tracking server.
#[derive(Debug, Clone)]
pub struct MlflowClient {
    base: String,
    agent: ureq::Agent,
}

/// A run in MLflow, as much of it as the export needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowRun {
    pub run_id: String,
    /// Where the server keeps the run's artifacts (`mlflow-artifacts:/...` when it proxies them).
    pub artifact_uri: String,
}

/// A registered model version in MLflow: its number and tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowVersion {
    pub version: String,
    pub tags: Vec<(String, String)>,
}

/// One metric point as MLflow takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricPoint<'a> {
    pub key: &'a str,
    pub value: f64,
    pub timestamp_ms: i64,
    pub step: u64,
}

impl MlflowClient {
    /// A client of the tracking server at `url` (`http://host:port`, a trailing `/` allowed).
    /// Checks the URL only; the first request finds out whether MLflow answers there.
    pub fn new(url: &str) -> Result<MlflowClient> {
        let base = url.trim_end_matches('/').to_string();
        let bad = |reason| Error::BadUrl { url: url.to_string(), reason };
        let rest = if let Some(rest) = base.strip_prefix("http://") {
            rest
        } else if base.starts_with("https://") {
            return Err(bad("this kiln speaks plain HTTP to MLflow; reach an https server through a local proxy"));
        } else {
            return Err(bad("it does not start with http://"));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("it names no host"));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("it carries a query or fragment"));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .new_agent();
        Ok(MlflowClient { base, agent })
    }

    /// The server's URL as given (without a trailing `/`).
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The id of the experiment named `name`, created when missing ([`Error::DeletedExperiment`]
    /// when it exists but was deleted).
    pub fn experiment_id(&self, name: &str) -> Result<String> {
        let endpoint = "experiments/get-by-name";
        match self.get(endpoint, &[("experiment_name", name)], "look up the experiment") {
            Ok(answer) => {
                let id = field_str(&answer, &["experiment", "experiment_id"], self, endpoint)?;
                if answer["experiment"].get("lifecycle_stage").and_then(Value::as_str) == Some("deleted") {
                    let (url, name) = (self.base.clone(), name.to_string());
                    return Err(Error::DeletedExperiment { url, name, experiment_id: id });
                }
                return Ok(id);
            }
            Err(Error::Refused { code, .. }) if code == "RESOURCE_DOES_NOT_EXIST" => {}
            Err(e) => return Err(e),
        }
        let answer = self.post("experiments/create", &json!({ "name": name }), "create the experiment")?;
        field_str(&answer, &["experiment_id"], self, "experiments/create")
    }

    /// The active run of `experiment_id` whose tag `key` equals `value`, if any.
    pub fn find_run(&self, experiment_id: &str, key: &str, value: &str) -> Result<Option<MlflowRun>> {
        let filter = format!("tags.`{key}` = '{}'", value.replace('\'', "\\'"));
        let body = json!({
            "experiment_ids": [experiment_id],
            "filter": filter,
            "run_view_type": "ACTIVE_ONLY",
            "max_results": 1,
        });
        let answer = self.post("runs/search", &body, "search the experiment's runs")?;
        match answer.get("runs").and_then(Value::as_array).and_then(|runs| runs.first()) {
            Some(run) => Ok(Some(run_of(run, self, "runs/search")?)),
            None => Ok(None),
        }
    }

    /// Creates a run in `experiment_id`.
    pub fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> Result<MlflowRun> {
        let body = json!({
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": start_ms,
            "tags": key_values(tags),
        });
        let answer = self.post("runs/create", &body, "create a run")?;
        let run = answer.get("run").unwrap_or(&Value::Null);
        run_of(run, self, "runs/create")
    }

    /// Logs parameters, metric points and tags to a run in one request (callers keep within
    /// MLflow's limits: 100 parameters, 100 tags, 1000 entries in all).
    pub fn log_batch(
        &self,
        run_id: &str,
        params: &[(String, String)],
        metrics: &[MetricPoint<'_>],
        tags: &[(String, String)],
    ) -> Result<()> {
        let metrics: Vec<Value> = metrics
            .iter()
            .map(|m| json!({ "key": m.key, "value": metric_value(m.value), "timestamp": m.timestamp_ms, "step": m.step }))
            .collect();
        let body =
            json!({ "run_id": run_id, "params": key_values(params), "metrics": metrics, "tags": key_values(tags) });
        self.post("runs/log-batch", &body, "log parameters, metrics and tags").map(drop)
    }

    /// Sets a run's status (`RUNNING`, `FINISHED`, `FAILED`, `KILLED`) and end time.
    pub fn update_run(&self, run_id: &str, status: &str, end_ms: Option<i64>) -> Result<()> {
        let mut body = json!({ "run_id": run_id, "status": status });
        if let Some(end) = end_ms {
            body["end_time"] = json!(end);
        }
        self.post("runs/update", &body, "update the run's status").map(drop)
    }

    /// Uploads `body` through the server's artifact proxy to `artifact_uri`/`relative_path`.
    /// Returns `false` (uploading nothing) when `artifact_uri` is not served by the proxy.
    pub fn upload_artifact(
        &self,
        artifact_uri: &str,
        relative_path: &str,
        body: impl ureq::AsSendBody,
    ) -> Result<bool> {
        let Some(root) = proxied_path(artifact_uri) else { return Ok(false) };
        let path = format!("{}/{}", root.trim_end_matches('/'), relative_path);
        let endpoint = format!("mlflow-artifacts/artifacts/{}", encode_path(&path));
        let url = format!("{}/api/2.0/{endpoint}", self.base);
        let response = self.agent.put(&url).send(body).map_err(|source| self.unreachable(&endpoint, source))?;
        // The proxy answers a stored artifact with an empty body; failures are MLflow's JSON.
        if response.status().is_success() {
            return Ok(true);
        }
        self.answer(response, &endpoint, "store an artifact").map(|_| true)
    }

    /// Creates the registered model `name`; one that exists already is left as it is.
    pub fn ensure_registered_model(&self, name: &str) -> Result<()> {
        match self.post("registered-models/create", &json!({ "name": name }), "register the model") {
            Err(Error::Refused { code, .. }) if code == "RESOURCE_ALREADY_EXISTS" => Ok(()),
            other => other.map(drop),
        }
    }

    /// Every version of the registered model `name`, with its tags.
    pub fn model_versions(&self, name: &str) -> Result<Vec<MlflowVersion>> {
        let endpoint = "model-versions/search";
        let filter = format!("name='{}'", name.replace('\'', "\\'"));
        let page_size = VERSIONS_PAGE.to_string();
        let mut versions = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![("filter", filter.as_str()), ("max_results", page_size.as_str())];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let answer = self.get(endpoint, &query, "list the model's versions")?;
            for version in answer.get("model_versions").and_then(Value::as_array).into_iter().flatten() {
                versions.push(MlflowVersion {
                    version: field_str(version, &["version"], self, endpoint)?,
                    tags: tags_of(version.get("tags")),
                });
            }
            match answer.get("next_page_token").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => token = next.to_string(),
                _ => return Ok(versions),
            }
        }
    }

    /// Creates a version of `name` from `source`, produced by `run_id`; returns its number.
    pub fn create_model_version(
        &self,
        name: &str,
        source: &str,
        run_id: &str,
        description: &str,
        tags: &[(String, String)],
    ) -> Result<String> {
        let body = json!({
            "name": name,
            "source": source,
            "run_id": run_id,
            "description": description,
            "tags": key_values(tags),
        });
        let answer = self.post("model-versions/create", &body, "create a model version")?;
        field_str(&answer, &["model_version", "version"], self, "model-versions/create")
    }

    /// Sets one tag of a model version.
    pub fn set_model_version_tag(&self, name: &str, version: &str, key: &str, value: &str) -> Result<()> {
        let body = json!({ "name": name, "version": version, "key": key, "value": value });
        self.post("model-versions/set-tag", &body, "tag a model version").map(drop)
    }

    /// Points `alias` of the registered model `name` at `version`.
    pub fn set_alias(&self, name: &str, alias: &str, version: &str) -> Result<()> {
        let body = json!({ "name": name, "alias": alias, "version": version });
        self.post("registered-models/alias", &body, "set a model alias").map(drop)
    }

    fn get(&self, endpoint: &str, query: &[(&str, &str)], action: &str) -> Result<Value> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let mut request = self.agent.get(&url);
        for (key, value) in query {
            request = request.query(*key, *value);
        }
        let response = request.call().map_err(|source| self.unreachable(endpoint, source))?;
        self.answer(response, endpoint, action)
    }

    fn post(&self, endpoint: &str, body: &Value, action: &str) -> Result<Value> {
        let url = format!("{}/api/2.0/mlflow/{endpoint}", self.base);
        let response = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|source| self.unreachable(endpoint, source))?;
        self.answer(response, endpoint, action)
    }

    /// MLflow answers JSON: an object on success, `{error_code, message}` on failure. Anything
    /// else did not come from MLflow.
    fn answer(&self, mut response: ureq::http::Response<ureq::Body>, endpoint: &str, action: &str) -> Result<Value> {
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|source| self.unreachable(endpoint, source))?;
        let parsed: Option<Value> = serde_json::from_str(&text).ok().filter(Value::is_object);
        let Some(json) = parsed else {
            return Err(self.not_mlflow(endpoint, status, describe_body(&text)));
        };
        if (200..300).contains(&status) {
            return Ok(json);
        }
        match (json.get("error_code").and_then(Value::as_str), json.get("message").and_then(Value::as_str)) {
            (Some(code), message) => Err(Error::Refused {
                url: self.base.clone(),
                action: action.to_string(),
                status,
                code: code.to_string(),
                message: message.unwrap_or("").to_string(),
                hint: hint_for(code, status),
            }),
            (None, _) => Err(self.not_mlflow(endpoint, status, "a JSON answer without MLflow's error_code".into())),
        }
    }

    fn unreachable(&self, endpoint: &str, source: ureq::Error) -> Error {
        Error::Unreachable { url: self.base.clone(), endpoint: endpoint.to_string(), source }
    }

    fn not_mlflow(&self, endpoint: &str, status: u16, what: String) -> Error {
        Error::NotMlflow { url: self.base.clone(), endpoint: endpoint.to_string(), status, what }
    }
}

/// What to check for each of MLflow's error codes.
fn hint_for(code: &str, status: u16) -> &'static str {
    match code {
        "INVALID_PARAMETER_VALUE" => {
            "the MLflow run or model already holds a different value (MLflow never changes a logged parameter) or a name MLflow does not accept; delete the MLflow run to export it afresh"
        }
        "RESOURCE_DOES_NOT_EXIST" => "something the export created was deleted in MLflow meanwhile; export again",
        "PERMISSION_DENIED" | "UNAUTHENTICATED" => "the tracking server requires credentials kiln does not send",
        _ if status >= 500 => {
            "the tracking server failed; its log says why (check its backend store and artifact destination)"
        }
        _ => "check the MLflow server's version (2.x or 3.x) and its log",
    }
}

/// A short description of a body that is not MLflow's JSON.
fn describe_body(text: &str) -> String {
    let first = text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or("");
    if first.is_empty() {
        return "an empty body".to_string();
    }
    let shown: String = first.chars().take(60).collect();
    let more = if first.chars().count() > 60 { "..." } else { "" };
    format!("a body starting {shown:?}{more}")
}

fn key_values(pairs: &[(String, String)]) -> Vec<Value> {
    pairs.iter().map(|(key, value)| json!({ "key": key, "value": value })).collect()
}

fn tags_of(tags: Option<&Value>) -> Vec<(String, String)> {
    tags.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tag| Some((tag.get("key")?.as_str()?.to_string(), tag.get("value")?.as_str()?.to_string())))
        .collect()
}

/// MLflow's JSON takes non-finite doubles as the strings protobuf's JSON mapping uses.
fn metric_value(value: f64) -> Value {
    if value.is_nan() {
        json!("NaN")
    } else if value.is_infinite() {
        json!(if value > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(value)
    }
}

fn run_of(run: &Value, client: &MlflowClient, endpoint: &str) -> Result<MlflowRun> {
    Ok(MlflowRun {
        run_id: field_str(run, &["info", "run_id"], client, endpoint)?,
        artifact_uri: field_str(run, &["info", "artifact_uri"], client, endpoint)?,
    })
}

fn field_str(value: &Value, path: &[&str], client: &MlflowClient, endpoint: &str) -> Result<String> {
    let found = path.iter().try_fold(value, |v, key| v.get(key)).and_then(Value::as_str);
    found
        .map(str::to_string)
        .ok_or_else(|| client.not_mlflow(endpoint, 200, format!("JSON without {}", path.join("."))))
}

/// The path under the artifact proxy of an `mlflow-artifacts:` URI (`mlflow-artifacts:/1/x` or
/// `mlflow-artifacts://host:port/1/x`); `None` for any other scheme.
pub(crate) fn proxied_path(artifact_uri: &str) -> Option<String> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:")?;
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => authority_and_path.find('/').map_or("", |at| &authority_and_path[at..]),
        None => rest,
    };
    Some(path.trim_start_matches('/').to_string())
}

/// Percent-encodes every byte of `path` but unreserved characters and `/`.
pub(crate) fn encode_path(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris_map_onto_the_proxy() {
        assert_eq!(proxied_path("mlflow-artifacts:/3/abc/artifacts").as_deref(), Some("3/abc/artifacts"));
        assert_eq!(proxied_path("mlflow-artifacts://h:5000/3/abc/artifacts").as_deref(), Some("3/abc/artifacts"));
        assert_eq!(proxied_path("s3://bucket/3/abc/artifacts"), None);
        assert_eq!(proxied_path("/srv/mlruns/3/abc/artifacts"), None);
    }

    #[test]
    fn paths_are_percent_encoded_but_for_slashes() {
        assert_eq!(encode_path("1/a b/report (1).html"), "1/a%20b/report%20%281%29.html");
        assert_eq!(encode_path("é"), "%C3%A9");
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        assert_eq!(MlflowClient::new("http://127.0.0.1:5000/").expect("url").url(), "http://127.0.0.1:5000");
        for bad in ["https://mlflow.example", "127.0.0.1:5000", "http://", "http:///x", "http://h:1/?a=b"] {
            assert!(matches!(MlflowClient::new(bad), Err(Error::BadUrl { .. })), "{bad}");
        }
    }

    #[test]
    fn non_finite_values_use_protobufs_json_names() {
        assert_eq!(metric_value(f64::NAN), json!("NaN"));
        assert_eq!(metric_value(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(metric_value(0.25), json!(0.25));
    }
}
