//! The HTTP surface (axum over hyper, tower layers): the Open Inference Protocol's health,
//! metadata and infer endpoints, the rows form, `/metrics`, and the admin endpoints. Inference
//! runs behind a concurrency limit that sheds load with 503 and `Retry-After` and a request
//! timeout; every answer carries the request id (`x-request-id`, taken or made).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, Request as HttpRequest, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::timeout::TimeoutLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};

use crate::admin;
use crate::config::Sticky;
use crate::error::ApiError;
use crate::infer::{self, Answer, Protocol, Request};
use crate::metrics::{ErrorLabels, RequestLabels, RouteLabels};
use crate::protocol;
use crate::state::App;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The server's routes and layers.
pub fn router(app: Arc<App>) -> Router {
    let limits = app.limits.clone();
    let metrics = app.metrics.clone();
    let shed = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(move |error: tower::BoxError| {
            let metrics = metrics.clone();
            async move { overloaded(&metrics, &error) }
        }))
        .layer(LoadShedLayer::new())
        // one limit for every inference route (a layer on a router wraps each route alone)
        .layer(GlobalConcurrencyLimitLayer::new(limits.max_concurrent))
        .layer(TimeoutLayer::new(Duration::from_millis(limits.timeout_ms)));
    let inference = Router::new()
        .route("/v2/models/{name}/infer", post(v2_infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(v2_version_infer))
        .route("/v1/models/{target}", post(rows_predict))
        .layer(shed)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes));
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(|| async { Json(json!({ "live": true })) }))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/versions/{version}", get(version_metadata))
        .route("/metrics", get(metrics_text))
        .merge(inference)
        .merge(admin::router())
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such endpoint",
                "see docs/serving.md for the endpoints",
            )
        })
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeId::default()))
        .with_state(app)
}

/// Request ids for requests that come without one: the process id, a start time and a
/// counter, unique per server.
#[derive(Debug, Clone)]
struct MakeId {
    prefix: Arc<str>,
    counter: Arc<AtomicU64>,
}

impl Default for MakeId {
    fn default() -> Self {
        let started = kiln_track::now_ms();
        Self { prefix: format!("{:x}-{started:x}", std::process::id()).into(), counter: Arc::default() }
    }
}

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &HttpRequest<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.prefix).parse().ok().map(RequestId::new)
    }
}

fn overloaded(metrics: &crate::metrics::Metrics, error: &tower::BoxError) -> Response {
    if error.is::<tower::timeout::error::Elapsed>() {
        metrics.timeouts.inc();
        let mut e = ApiError::overloaded("the request took longer than the server's timeout (limits.timeout_ms)");
        e.body.kind = "timeout";
        return e.into_response();
    }
    metrics.shed.inc();
    ApiError::overloaded("the server is handling as many requests as it may (limits.max_concurrent)").into_response()
}

async fn server_metadata() -> Json<Value> {
    Json(json!({ "name": "kiln-serve", "version": env!("CARGO_PKG_VERSION"), "extensions": [] }))
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    let ready = app.served.values().all(|s| !s.routes.is_empty());
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready }))).into_response()
}

async fn model_ready(State(app): State<Arc<App>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let served = app.served(&name)?;
    Ok(Json(json!({ "name": name, "ready": true, "versions": served.versions() })))
}

async fn model_metadata(State(app): State<Arc<App>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let served = app.served(&name)?;
    let live = served.routes[0].0.live();
    Ok(Json(metadata(&name, &served, &live.loaded)))
}

async fn version_metadata(
    State(app): State<Arc<App>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let served = app.served(&name)?;
    let route = version_of(&served, &version)?;
    Ok(Json(metadata(&name, &served, &route.live().loaded)))
}

fn version_of(served: &crate::deploy::Served, text: &str) -> Result<Arc<crate::deploy::Route>, ApiError> {
    let versions: Vec<String> = served.versions().iter().map(|v| format!("v{v}")).collect();
    let unknown = || ApiError::unknown_model(format!("version `{text}` of `{}` is not served", served.name), &versions);
    let number: i64 = text.strip_prefix('v').unwrap_or(text).parse().map_err(|_| unknown())?;
    served.by_version(number).ok_or_else(unknown)
}

/// The Open Inference Protocol's model metadata, with kiln's details in `parameters`.
fn metadata(name: &str, served: &crate::deploy::Served, loaded: &crate::source::Loaded) -> Value {
    let schema = &loaded.manifest.schema;
    let inputs: Vec<Value> = schema
        .features()
        .map(|c| json!({ "name": c.name, "datatype": protocol::v2_datatype(c.dtype), "shape": [-1] }))
        .collect();
    let outputs: Vec<Value> = loaded
        .model
        .outputs()
        .assemble(&kiln_core::columns::Batch::default(), &[])
        .map(|b| {
            b.columns
                .iter()
                .map(|(n, v)| json!({ "name": n, "datatype": protocol::v2_datatype(v.dtype()), "shape": [-1] }))
                .collect()
        })
        .unwrap_or_default();
    let routes: Vec<Value> = served
        .all_routes()
        .iter()
        .map(|r| {
            json!({
                "source": r.source.to_string(),
                "role": infer::route_label(r.role),
                "version": r.version(),
                "kind": r.live().loaded.model.kind(),
                "sha256": r.live().loaded.sha256,
                "breaker": r.breaker.state().as_str(),
            })
        })
        .collect();
    json!({
        "name": name,
        "versions": served.versions().iter().map(i64::to_string).collect::<Vec<_>>(),
        "platform": "kiln",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {
            "task": schema.task.as_str(),
            "kind": loaded.model.kind(),
            "classes": schema.classes,
            "decision_threshold": loaded.manifest.decision_threshold,
            "id_columns": schema.columns.iter().filter(|c| c.role == kiln_core::schema::Role::Id).map(|c| &c.name).collect::<Vec<_>>(),
            "routes": routes,
        },
    })
}

async fn metrics_text(State(app): State<Arc<App>>) -> Response {
    if let Some(stats) = app.log_stats() {
        app.metrics.log_rows_written.set(stats.rows_written as i64);
        app.metrics.log_rows_dropped.set(stats.rows_dropped as i64);
    }
    app.export_drift();
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], app.metrics.encode()).into_response()
}

async fn v2_infer(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(app, &name, None, Protocol::V2, &headers, body).await
}

async fn v2_version_infer(
    State(app): State<Arc<App>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let version = match app.served(&name).and_then(|s| version_of(&s, &version)) {
        Ok(route) => route.version(),
        Err(e) => return finish(&app, &name, Protocol::V2, Instant::now(), Err(e), &headers),
    };
    answer(app, &name, Some(version), Protocol::V2, &headers, body).await
}

async fn rows_predict(
    State(app): State<Arc<App>>,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(name) = target.strip_suffix(":predict") else {
        let e = ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("`/v1/models/{target}` is not an endpoint"),
            "POST rows to /v1/models/{name}:predict",
        );
        return finish(&app, &target, Protocol::Rows, Instant::now(), Err(e), &headers);
    };
    answer(app.clone(), name, None, Protocol::Rows, &headers, body).await
}

async fn answer(
    app: Arc<App>,
    name: &str,
    version: Option<i64>,
    protocol: Protocol,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return finish(
                &app,
                name,
                protocol,
                started,
                Err(body_error(&rejection, app.limits.max_body_bytes)),
                headers,
            );
        }
    };
    let sticky_header = app.served.get(name).and_then(|s| match &s.sticky {
        Some(Sticky::Header(h)) => headers.get(h.as_str()).and_then(|v| v.to_str().ok()).map(str::to_owned),
        _ => None,
    });
    let request = Request {
        model: name,
        version,
        body: &body,
        request_id: request_id(headers),
        sticky_header,
        protocol,
        received_ms: kiln_track::now_ms(),
    };
    let result = infer::infer(&app, &request).await;
    finish(&app, name, protocol, started, result, headers)
}

fn body_error(rejection: &BytesRejection, limit: usize) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            status,
            "body_too_large",
            format!("the request body is larger than this server's limit of {limit} bytes"),
            "send fewer rows per request (or raise serving.limits.max_body_bytes)",
        );
    }
    ApiError::new(status, "bad_body", "the request body cannot be read", "send the body as JSON, in one piece")
}

fn request_id(headers: &HeaderMap) -> String {
    headers.get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The response, and its metrics.
fn finish(
    app: &App,
    name: &str,
    protocol: Protocol,
    started: Instant,
    result: Result<Answer, ApiError>,
    headers: &HeaderMap,
) -> Response {
    let known = app.served.contains_key(name);
    let model = if known { name.to_owned() } else { String::new() };
    let (response, version, route, rows) = match result {
        Ok(answer) => {
            let rows = answer.outputs.n_rows() as u64;
            let (version, route) = (answer.version.to_string(), answer.route);
            (respond(name, protocol, &answer, &request_id(headers)), version, route, rows)
        }
        Err(e) => {
            let kind = if e.status.is_client_error() { "client" } else { "server" };
            app.metrics.errors.get_or_create(&ErrorLabels { model: model.clone(), kind: kind.into() }).inc();
            (e.into_response(), String::new(), "", 0)
        }
    };
    let code = response.status().as_u16().to_string();
    let labels = RouteLabels { model: model.clone(), version: version.clone(), route: route.into() };
    app.metrics.latency.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    app.metrics.rows.get_or_create(&labels).inc_by(rows);
    let labels = RequestLabels { model, version, route: route.into(), protocol: protocol.as_str().into(), code };
    app.metrics.requests.get_or_create(&labels).inc();
    response
}

fn respond(name: &str, protocol: Protocol, answer: &Answer, request_id: &str) -> Response {
    let body = match protocol {
        Protocol::V2 => json!({
            "model_name": name,
            "model_version": answer.version.to_string(),
            "id": answer.id.clone().unwrap_or_else(|| request_id.to_owned()),
            "parameters": { "route": answer.route, "request_id": request_id },
            "outputs": protocol::v2_outputs(&answer.outputs),
        }),
        Protocol::Rows => json!({
            "model": name,
            "version": answer.version,
            "route": answer.route,
            "request_id": request_id,
            "predictions": protocol::row_predictions(&answer.outputs),
        }),
    };
    Json(body).into_response()
}
