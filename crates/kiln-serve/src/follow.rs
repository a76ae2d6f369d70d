//! Following the registry: every `poll_ms` (and at once on `POST /admin/reload`) each alias is
//! read again; when `kiln models promote` or `rollback` moved it, the new version is loaded
//! (its SHA-256 checked) and swapped in. A version that fails to load leaves the old one
//! serving, is logged and counted, and is not tried again until the alias moves once more.
//! A model served within `poll_ms` plus its load time of the move is the bound.
//!
//! A model whose first route serves an alias also follows the registry's active rollout of
//! that model (`kiln rollout`): in shadow its challenger scores a copy of every request
//! (route `shadow`), in canary it answers the rollout's share of the traffic (route `canary`,
//! keyed like any canary so sticky users stay put); when the rollout ends, its route is
//! dropped (and a promotion has moved the alias, which the primary follows). The counts of a
//! rollout's route on `/metrics` start at zero when the server begins following it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use kiln_track::{Rollout, RolloutPhase};

use crate::deploy::{Loader, Role, RolloutRoute, Route, Served};
use crate::metrics::ReloadLabels;
use crate::source::Source;

/// Poll the registry until `stop` is notified.
pub async fn follow(served: Vec<Arc<Served>>, loader: Loader, poll: Duration, stop: Arc<Notify>) {
    let follows = served.iter().flat_map(|s| s.all_routes()).any(|r| matches!(r.source, Source::Alias { .. }));
    if !follows {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stop.notified() => return,
        }
        let (served, loader) = (served.clone(), loader.clone());
        let polled = tokio::task::spawn_blocking(move || served.iter().for_each(|s| poll_model(s, &loader))).await;
        if let Err(e) = polled {
            tracing::error!(error = %e, "reading the registry failed");
        }
    }
}

/// Check every alias route of `served` once, then its rollout.
pub fn poll_model(served: &Served, loader: &Loader) {
    for route in served.all_routes() {
        if !matches!(route.source, Source::Alias { .. }) {
            continue;
        }
        if poll_route(served, &route, loader) && route.role == Role::Primary && !served.fallback_configured {
            follow_fallback(served, &route, loader);
        }
    }
    poll_rollout(served, loader);
}

/// Serve the registry's active rollout of the model as it stands now: start, move or drop
/// the challenger's route.
fn poll_rollout(served: &Served, loader: &Loader) {
    let Some(name) = served.rollout_model() else { return };
    let active = match loader.registry.active_rollout(name) {
        Ok(active) => active,
        Err(e) => {
            tracing::warn!(model = %served.name, error = %e, "cannot read the active rollout; serving on");
            return;
        }
    };
    let current = served.rollout();
    let Some(rollout) = active else {
        if let Some(ended) = current {
            served.set_rollout(None);
            tracing::info!(model = %served.name, rollout = ended.id, "the rollout ended: its route is dropped");
        }
        return;
    };
    if let Some(now) = &current
        && (now.id, now.phase, now.step) == (rollout.id, rollout.phase, rollout.step)
        && now.share == rollout.share
    {
        return;
    }
    let role = if rollout.phase == RolloutPhase::Canary { Role::Canary } else { Role::Shadow };
    // the same challenger in the same role keeps its route (and its breaker's record)
    let route = match current.filter(|c| c.id == rollout.id && c.route.role == role) {
        Some(kept) => kept.route.clone(),
        None => match rollout_route(served, loader, &rollout, role) {
            Some(route) => route,
            None => return,
        },
    };
    let (phase, step, share) = (rollout.phase, rollout.step, rollout.share);
    served.set_rollout(Some(Arc::new(RolloutRoute { id: rollout.id, phase, step, share, route })));
    tracing::info!(
        model = %served.name, rollout = rollout.id, version = rollout.challenger_version,
        phase = phase.as_str(), step, share, "following the rollout"
    );
}

/// A route for the rollout's challenger in `role`, its counts started afresh; none (logged,
/// not tried again for this rollout) when it cannot be loaded.
fn rollout_route(served: &Served, loader: &Loader, rollout: &Rollout, role: Role) -> Option<Arc<Route>> {
    let mut failed = served.rollout_failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if *failed == Some(rollout.id) {
        return None;
    }
    let source = Source::Version { name: rollout.name.clone(), version: rollout.challenger_version };
    // the challenger loaded for the shadow serves the canary too
    let loaded = match served.rollout().filter(|c| c.id == rollout.id) {
        Some(previous) => Ok(previous.route.live().loaded.clone()),
        None => loader.registry.load(&source),
    };
    let route =
        loaded.and_then(|loaded| loader.route_of(&served.settings, source.clone(), role, loaded, &served.faults));
    match route {
        Ok(route) => {
            let label = crate::infer::route_label(role);
            loader.metrics.reset_route(&served.name, &source.to_string(), rollout.challenger_version, label);
            Some(route)
        }
        Err(e) => {
            *failed = Some(rollout.id);
            let labels =
                ReloadLabels { model: served.name.clone(), source: source.to_string(), outcome: "failed".into() };
            loader.metrics.reloads.get_or_create(&labels).inc();
            tracing::error!(
                model = %served.name, rollout = rollout.id, source = %source, error = %e,
                "the rollout's challenger cannot be served; the champion serves alone"
            );
            None
        }
    }
}

/// Swap in the version the alias points at now, if it moved; whether it did.
fn poll_route(served: &Served, route: &Route, loader: &Loader) -> bool {
    let resolved = match loader.registry.resolve(&route.source) {
        Ok(resolved) => resolved,
        Err(e) => {
            tracing::warn!(model = %served.name, source = %route.source, error = %e, "cannot read the alias; serving on");
            return false;
        }
    };
    let live = route.live();
    let now = (resolved.version, resolved.sha256.clone().unwrap_or_default());
    if resolved.version == live.loaded.resolved.version && resolved.sha256 == live.loaded.resolved.sha256 {
        return false;
    }
    let mut failed = route.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if failed.as_ref() == Some(&now) {
        return false;
    }
    let from = live.loaded.resolved.version;
    let labels = |outcome: &str| ReloadLabels {
        model: served.name.clone(),
        source: route.source.to_string(),
        outcome: outcome.into(),
    };
    match crate::source::Loaded::load(&route.source.to_string(), resolved) {
        Ok(loaded) => {
            let to = loaded.resolved.version;
            let (faults, monitoring) = (served.faults.clone(), route.monitoring.as_ref());
            route.swap(loader.live(&served.name, &route.source, Arc::new(loaded), faults, monitoring));
            *failed = None;
            loader.metrics.reloads.get_or_create(&labels("loaded")).inc();
            tracing::info!(model = %served.name, source = %route.source, from, to, "the alias moved: now serving v{to}");
            true
        }
        Err(e) => {
            *failed = Some(now);
            loader.metrics.reloads.get_or_create(&labels("failed")).inc();
            tracing::error!(
                model = %served.name, source = %route.source, serving = from, error = %e,
                "the alias moved to a version that cannot be served; the old version serves on"
            );
            false
        }
    }
}

/// The primary moved: serve the rules baseline of its run as the fallback.
fn follow_fallback(served: &Served, primary: &Route, loader: &Loader) {
    let settings = crate::config::ModelSettings::single(served.name.clone(), primary.source.clone());
    match loader.run_fallback(&settings, primary) {
        Ok(Some(route)) => served.set_fallback(route),
        Ok(None) => {
            tracing::warn!(model = %served.name, "the new version's run has no rules baseline; the fallback stays")
        }
        Err(e) => {
            tracing::warn!(model = %served.name, error = %e, "cannot load the new run's rules baseline; the fallback stays")
        }
    }
}
