//! The admin endpoints: read the registry now, open or close a breaker, inject faults to
//! drill the breaker. They need `Authorization: Bearer <token>` (the token from the
//! environment variable `admin_token_env`, `KILN_SERVE_TOKEN` by default); without a token
//! configured they answer only on a loopback bind.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::batcher::FaultSettings;
use crate::error::ApiError;
use crate::state::App;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/admin/reload", post(reload))
        .route("/admin/models/{name}/breaker", post(breaker))
        .route("/admin/models/{name}/faults", get(faults).put(set_faults))
}

/// Whether the request may use the admin endpoints.
fn authorise(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &app.admin_token else {
        if app.loopback {
            return Ok(());
        }
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin endpoints are off: this server listens beyond loopback and has no admin token",
            "start the server with the token in KILN_SERVE_TOKEN (or serving.admin_token_env)",
        ));
    };
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorised",
        "the admin endpoints need the server's bearer token",
        "send `Authorization: Bearer <token>` with the token the server was started with",
    ))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Read every alias now; answer the versions served after it.
async fn reload(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    authorise(&app, &headers)?;
    let polled = app.clone();
    tokio::task::spawn_blocking(move || {
        for served in polled.served.values() {
            crate::follow::poll_model(served, &polled.loader);
        }
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the registry failed: {e}")))?;
    let versions: serde_json::Map<String, Value> =
        app.served.iter().map(|(name, s)| (name.clone(), json!(s.versions()))).collect();
    Ok(Json(json!({ "versions": versions })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakerRequest {
    /// true: open every route's breaker; false: close them.
    open: bool,
}

async fn breaker(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    authorise(&app, &headers)?;
    let served = app.served(&name)?;
    let request: BreakerRequest = parse(&body, "{\"open\": true} or {\"open\": false}")?;
    let mut states = Vec::new();
    for route in served.all_routes() {
        if let Some(t) = route.breaker.force(request.open, Instant::now()) {
            app.metrics.breaker(&name, &route.source.to_string(), &t);
            tracing::warn!(model = %name, source = %route.source, to = t.to.as_str(), "breaker set by an operator");
        }
        states.push(json!({ "source": route.source.to_string(), "state": route.breaker.state().as_str() }));
    }
    Ok(Json(json!({ "model": name, "breakers": states })))
}

async fn faults(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<FaultSettings>, ApiError> {
    authorise(&app, &headers)?;
    Ok(Json(app.served(&name)?.faults.get()))
}

async fn set_faults(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<FaultSettings>, ApiError> {
    authorise(&app, &headers)?;
    let served = app.served(&name)?;
    let settings: FaultSettings =
        parse(&body, "{\"fail\": bool, \"delay_ms\": n, \"non_finite\": bool, \"version\": n}")?;
    served.faults.set(settings);
    tracing::warn!(model = %name, ?settings, "faults injected by an operator");
    Ok(Json(settings))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    let value = crate::protocol::json_body(body)?;
    serde_json::from_value(value)
        .map_err(|_| ApiError::bad_request("the body does not have the expected fields", format!("send {shape}")))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, HeaderValue, StatusCode, header};

    use super::authorise;
    use crate::config::{Batching, Limits};
    use crate::deploy::Loader;
    use crate::metrics::Metrics;
    use crate::source::Registry;
    use crate::state::App;

    fn app(token: Option<&str>, loopback: bool) -> App {
        let metrics = Arc::new(Metrics::new());
        let registry = Registry::open(std::path::Path::new("unused.db"), false).expect("no store needed");
        App {
            served: Default::default(),
            metrics: metrics.clone(),
            log: Mutex::new(None),
            limits: Limits::default(),
            admin_token: token.map(str::to_owned),
            loopback,
            loader: Loader { registry, batching: Batching::default(), queue: 1, metrics },
            shadows: Default::default(),
        }
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
        headers
    }

    #[test]
    fn without_a_token_admin_answers_on_loopback_only() {
        assert!(authorise(&app(None, true), &HeaderMap::new()).is_ok());
        let refused = authorise(&app(None, false), &HeaderMap::new()).expect_err("refused");
        assert_eq!((refused.status, refused.body.kind), (StatusCode::FORBIDDEN, "admin_disabled"));
    }

    #[test]
    fn with_a_token_admin_needs_it_on_every_bind() {
        for loopback in [true, false] {
            let app = app(Some("s3cret"), loopback);
            assert!(authorise(&app, &bearer("s3cret")).is_ok());
            for headers in [HeaderMap::new(), bearer("s3cre"), bearer("s3cret!")] {
                let refused = authorise(&app, &headers).expect_err("refused");
                assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
            }
        }
    }
}
