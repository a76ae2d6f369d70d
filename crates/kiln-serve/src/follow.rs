//! Following the registry: every `poll_ms` (and at once on `POST /admin/reload`) each alias is
//! read again; when `kiln models promote` or `rollback` moved it, the new version is loaded
//! (its SHA-256 checked) and swapped in. A version that fails to load leaves the old one
//! serving, is logged and counted, and is not tried again until the alias moves once more.
//! A model served within `poll_ms` plus its load time of the move is the bound.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::deploy::{Loader, Role, Route, Served};
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

/// Check every alias route of `served` once.
pub fn poll_model(served: &Served, loader: &Loader) {
    for route in served.all_routes() {
        if !matches!(route.source, Source::Alias { .. }) {
            continue;
        }
        if poll_route(served, &route, loader) && route.role == Role::Primary && !served.fallback_configured {
            follow_fallback(served, &route, loader);
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
