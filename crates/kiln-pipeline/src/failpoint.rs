//! Named points at which a drill kills the process, so that tests can show that `kill -9` at
//! any stage of a retrain or a rollout leaves the store, the registry and the files
//! consistent. With `KILN_FAILPOINT=NAME[,NAME...]` set, reaching one of those points sends
//! the process SIGKILL (no destructor, no flush, no cleanup: exactly a `kill -9`). Unset, as
//! it always is outside such drills, [`hit`] costs one environment read.

/// The environment variable naming the points to die at.
pub const ENV: &str = "KILN_FAILPOINT";

/// Dies here when [`ENV`] names `point`.
pub fn hit(point: &str) {
    let Ok(points) = std::env::var(ENV) else { return };
    if points.split(',').any(|p| p.trim() == point) {
        tracing::warn!(failpoint = point, "{ENV}: killing this process as kill -9 would");
        let _ = std::process::Command::new("kill").args(["-KILL", &std::process::id().to_string()]).status();
        // without kill(1): abort, which also skips every destructor
        std::process::abort();
    }
}
