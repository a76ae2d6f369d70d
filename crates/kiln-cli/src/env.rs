//! Every environment variable kiln reads, in one place.

/// Where the tracking store lives (default `.kiln/kiln.db`).
pub const KILN_STORE: &str = "KILN_STORE";
/// Who is acting, for the audit log (default: the OS user).
/// (The name is owned by kiln-track, which reads it for `default_actor`.)
pub const KILN_ACTOR: &str = kiln_track::ACTOR_ENV;
/// Log filter for stderr logs, e.g. `kiln=debug`.
pub const KILN_LOG: &str = "KILN_LOG";
/// Set to any value to disable colours.
pub const NO_COLOR: &str = "NO_COLOR";
/// MLflow's own variable for the tracking server's URL: `kiln runs export --mlflow`'s default.
pub const MLFLOW_TRACKING_URI: &str = "MLFLOW_TRACKING_URI";
/// Fault drills only: named points at which the process kills itself as `kill -9` would.
/// (The name is owned by kiln-pipeline, which reads it in `failpoint::hit`.)
pub const KILN_FAILPOINT: &str = kiln_pipeline::failpoint::ENV;
