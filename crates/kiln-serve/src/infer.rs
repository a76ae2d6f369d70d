//! One inference request, from its body to its answer: read the rows against the model's
//! schema, choose the route (canary, weights, sticky key), check the rows, ask the route's
//! breaker, score through the batcher, fall back to the rules model when the breaker is open
//! or the model fails, copy the request to the shadow (and to a rollout's challenger in
//! shadow) off the response path, count each route's scoring outcome, and log every scored
//! row.

use std::sync::Arc;
use std::time::Instant;

use kiln_core::columns::{Batch, Values};
use kiln_core::rows::{self, RowReport};

use crate::breaker::{Admit, Outcome, Transition};
use crate::config::Sticky;
use crate::deploy::{Role, Route, Served, key_unit, random_unit};
use crate::error::ApiError;
use crate::metrics::{ColumnLabels, ModelLabels, OutcomeLabels};
use crate::predlog::Route as LogRoute;
use crate::protocol::{self, Parsed};
use crate::state::App;

/// The request forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V2,
    Rows,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::V2 => "v2",
            Protocol::Rows => "rows",
        }
    }
}

/// An inference request as the HTTP layer hands it over.
#[derive(Debug)]
pub struct Request<'a> {
    pub model: &'a str,
    /// `/versions/{version}/infer`: that version, bypassing the traffic split.
    pub version: Option<i64>,
    pub body: &'a [u8],
    pub request_id: String,
    /// The value of the sticky header, when the model is sticky by a header.
    pub sticky_header: Option<String>,
    pub protocol: Protocol,
    pub received_ms: i64,
}

/// A scored request.
#[derive(Debug)]
pub struct Answer {
    pub outputs: Batch,
    pub version: i64,
    /// `primary`, `canary` or `fallback`.
    pub route: &'static str,
    /// The v2 request's `id`.
    pub id: Option<String>,
}

/// Score `request`.
pub async fn infer(app: &Arc<App>, request: &Request<'_>) -> Result<Answer, ApiError> {
    let served = app.served(request.model)?;
    let body = protocol::json_body(request.body)?;
    let reference = served.routes[0].0.live();
    let schema = &reference.loaded.manifest.schema;
    let max_rows = app.limits.max_rows;
    let parsed = match request.protocol {
        Protocol::V2 => protocol::v2_request(&body, schema, max_rows)?,
        Protocol::Rows => protocol::rows_request(&body, schema, max_rows)?,
    };
    let now = Instant::now();
    let route = match request.version {
        Some(version) => served.by_version(version).ok_or_else(|| {
            let served_versions: Vec<String> = served.versions().iter().map(|v| format!("v{v}")).collect();
            ApiError::unknown_model(format!("version {version} of `{}` is not served", served.name), &served_versions)
        })?,
        None => served.choose(sticky_unit(&served, request, &parsed.batch), now),
    };
    let Parsed { batch, problems, id } = parsed;
    let live = route.live();
    let report = protocol::with_problems(check(&live.loaded, &batch), problems);
    if !report.is_ok() {
        return Err(ApiError::invalid_rows(report));
    }
    let unusual_rows = count_inputs(app, &served, &route, &report, &batch);
    let batch = Arc::new(batch);
    for shadow in served.shadow.iter().cloned().chain(served.rollout_shadow()) {
        shadow_copy(app.clone(), served.clone(), shadow, batch.clone(), request);
    }
    let (admit, transition) = route.breaker.admit(now);
    note_transition(app, &route, transition);
    let mut answer = match admit {
        Admit::Fallback => None,
        Admit::Model | Admit::Probe => score_on(app, &route, admit, &batch, unusual_rows).await?,
    };
    let mut answered_by = route.clone();
    if answer.is_none() {
        let fallback = served.fallback().ok_or_else(|| {
            ApiError::overloaded(format!(
                "`{}` is failing and has no fallback (its breaker is {})",
                served.name,
                route.breaker.state().as_str()
            ))
        })?;
        let by_fallback = score_fallback(&fallback, &batch).await;
        count_outcome(app, &fallback, &fallback.live().loaded, by_fallback.is_ok());
        answer = Some(by_fallback?);
        app.metrics
            .fallback_rows
            .get_or_create(&ModelLabels { model: served.name.clone() })
            .inc_by(batch.n_rows() as u64);
        answered_by = fallback;
    }
    let outputs = answer.unwrap_or_default();
    let loaded = &answered_by.live().loaded;
    let route_name = route_label(answered_by.role);
    app.log(request, &served.name, loaded, log_route(answered_by.role), &batch, outputs.clone(), now);
    Ok(Answer { outputs, version: loaded.resolved.version, route: route_name, id })
}

/// The row check against the model that will score.
fn check(loaded: &crate::source::Loaded, batch: &Batch) -> RowReport {
    rows::check(&loaded.manifest.schema, &loaded.manifest.preprocessor, batch)
}

/// The sticky key's place in [0, 1), or a random one.
fn sticky_unit(served: &Served, request: &Request<'_>, batch: &Batch) -> f64 {
    let key = match &served.sticky {
        Some(Sticky::Header(_)) => request.sticky_header.clone(),
        Some(Sticky::Column(column)) => batch.get(column).and_then(first_value),
        None => None,
    };
    key.map_or_else(random_unit, |k| key_unit(k.as_bytes()))
}

fn first_value(values: &Values) -> Option<String> {
    match values {
        Values::Int(v) => v.first().copied().flatten().map(|x| x.to_string()),
        Values::Float(v) => v.first().copied().flatten().map(|x| x.to_string()),
        Values::Text(v) => v.first().cloned().flatten(),
        Values::Bool(v) => v.first().copied().flatten().map(|x| x.to_string()),
    }
}

/// Count missing values, unseen categories and out-of-range numbers per column; the rows
/// that hold an unseen category or an out-of-range number.
fn count_inputs(app: &App, served: &Served, route: &Route, report: &RowReport, batch: &Batch) -> usize {
    let labels = |column: &str| ColumnLabels { model: served.name.clone(), column: column.into() };
    for note in &report.notes {
        app.metrics.missing_values.get_or_create(&labels(&note.column)).inc_by(note.missing as u64);
        app.metrics.unseen_categories.get_or_create(&labels(&note.column)).inc_by(note.unseen as u64);
    }
    let live = route.live();
    let loaded = &live.loaded;
    let mut unusual = vec![false; batch.n_rows()];
    for (column, (low, high)) in &loaded.ranges {
        let outside = |x: f64| x < *low || x > *high;
        let mut count = 0;
        let mut mark = |row: usize, bad: bool| {
            if bad {
                unusual[row] = true;
                count += 1;
            }
        };
        match batch.get(column) {
            Some(Values::Float(v)) => v.iter().enumerate().for_each(|(r, x)| mark(r, x.is_some_and(outside))),
            Some(Values::Int(v)) => {
                v.iter().enumerate().for_each(|(r, x)| mark(r, x.is_some_and(|x| outside(x as f64))))
            }
            _ => {}
        }
        if count > 0 {
            app.metrics.out_of_range.get_or_create(&labels(column)).inc_by(count);
        }
    }
    for (column, vocabulary) in &loaded.vocabularies {
        if let Some(Values::Text(v)) = batch.get(column) {
            for (row, value) in v.iter().enumerate() {
                unusual[row] |= value.as_ref().is_some_and(|x| !vocabulary.contains(x));
            }
        }
    }
    unusual.iter().filter(|u| **u).count()
}

/// Score on `route`; none when the model failed or gave non-finite outputs (the fallback
/// answers then). The outcome goes to the route's breaker.
async fn score_on(
    app: &App,
    route: &Arc<Route>,
    admit: Admit,
    batch: &Arc<Batch>,
    unusual_rows: usize,
) -> Result<Option<Batch>, ApiError> {
    let live = route.live();
    let started = Instant::now();
    let reply = live.batcher.score(batch.clone()).await.map_err(|_| {
        app.metrics.shed.inc();
        ApiError::overloaded(format!("the queue of `{}` is full", route.model))
    })?;
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    let drifted_share = live.drift.as_ref().and_then(|d| d.drifted_share());
    let mut outcome = Outcome { latency_ms, rows: batch.n_rows(), unusual_rows, drifted_share, ..Outcome::default() };
    let result = match reply {
        Ok(scores) => {
            outcome.non_finite = non_finite_rows(&scores, live.loaded.model.n_outputs());
            if outcome.non_finite > 0 {
                tracing::warn!(model = %route.model, rows = outcome.non_finite, "the model gave non-finite outputs");
                None
            } else {
                let outputs = live.loaded.model.outputs().assemble(batch, &scores).map_err(|e| {
                    ApiError::internal(format!("the outputs of `{}` cannot be assembled: {e}", route.model))
                })?;
                Some(outputs)
            }
        }
        Err(e) => {
            outcome.error = true;
            tracing::warn!(model = %route.model, source = %route.source, error = %e, "scoring failed");
            None
        }
    };
    count_outcome(app, route, &live.loaded, result.is_some());
    let transition = route.breaker.record(admit, outcome, Instant::now());
    note_transition(app, route, transition);
    Ok(result)
}

/// Score on the fallback route.
async fn score_fallback(fallback: &Route, batch: &Arc<Batch>) -> Result<Batch, ApiError> {
    let live = fallback.live();
    let scores = live
        .batcher
        .score(batch.clone())
        .await
        .map_err(|_| ApiError::overloaded(format!("the fallback queue of `{}` is full", fallback.model)))?
        .map_err(|e| {
            ApiError::internal(format!("the model of `{}` and its fallback both failed: {e}", fallback.model))
        })?;
    let outputs = live
        .loaded
        .model
        .outputs()
        .assemble(batch, &scores)
        .map_err(|e| ApiError::internal(format!("the fallback's outputs cannot be assembled: {e}")))?;
    Ok(outputs)
}

/// Score a copy of the request on the shadow, off the response path: its outputs go to the
/// prediction log only.
fn shadow_copy(app: Arc<App>, served: Arc<Served>, shadow: Arc<Route>, batch: Arc<Batch>, request: &Request<'_>) {
    let request_id = request.request_id.clone();
    let received_ms = request.received_ms;
    let in_flight = app.shadows.start();
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let now = Instant::now();
        let live = shadow.live();
        if !check(&live.loaded, &batch).is_ok() {
            tracing::debug!(model = %served.name, "the shadow cannot score these rows");
            return;
        }
        let scores = match live.batcher.score(batch.clone()).await {
            Ok(Ok(scores)) if non_finite_rows(&scores, live.loaded.model.n_outputs()) == 0 => scores,
            Ok(_) => {
                count_outcome(&app, &shadow, &live.loaded, false);
                return;
            }
            Err(_) => {
                app.metrics.shed.inc();
                return;
            }
        };
        let Ok(outputs) = live.loaded.model.outputs().assemble(&batch, &scores) else {
            count_outcome(&app, &shadow, &live.loaded, false);
            return;
        };
        count_outcome(&app, &shadow, &live.loaded, true);
        let entry =
            app.entry(&request_id, received_ms, &served.name, &live.loaded, LogRoute::Shadow, &batch, outputs, now);
        app.append(entry);
    });
}

/// Count one scoring call of `route` (on the version `loaded`) as ok or failed.
fn count_outcome(app: &App, route: &Route, loaded: &crate::source::Loaded, ok: bool) {
    let labels = OutcomeLabels {
        model: route.model.clone(),
        source: route.source.to_string(),
        version: loaded.resolved.version.to_string(),
        route: route_label(route.role).into(),
        outcome: if ok { "ok" } else { "failed" }.into(),
    };
    app.metrics.route_outcomes.get_or_create(&labels).inc();
}

fn non_finite_rows(scores: &[f64], n_outputs: usize) -> usize {
    scores.chunks(n_outputs.max(1)).filter(|row| row.iter().any(|s| !s.is_finite())).count()
}

fn note_transition(app: &App, route: &Route, transition: Option<Transition>) {
    let Some(t) = transition else { return };
    app.metrics.breaker(&route.model, &route.source.to_string(), &t);
    let trigger = t.trigger.map_or("", |x| x.as_str());
    tracing::warn!(
        model = %route.model, source = %route.source, from = t.from.as_str(), to = t.to.as_str(),
        trigger, value = t.value, "breaker"
    );
}

/// The route name answers and metrics carry.
pub fn route_label(role: Role) -> &'static str {
    match role {
        Role::Primary => "primary",
        Role::Canary => "canary",
        Role::Shadow => "shadow",
        Role::Fallback => "fallback",
    }
}

fn log_route(role: Role) -> LogRoute {
    match role {
        Role::Primary => LogRoute::Primary,
        Role::Canary => LogRoute::Canary,
        Role::Shadow => LogRoute::Shadow,
        Role::Fallback => LogRoute::Fallback,
    }
}
