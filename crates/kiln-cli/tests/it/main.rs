//! kiln-cli tests: the commands driven in process through `kiln_cli::run`, and the real
//! binary spawned once.

mod binary;
mod configs;
mod data_cmds;
mod predict;
mod resume;
mod run_eval;
mod track_cmds;
mod train_predict;

/// Run kiln in process with a tracking store shared by the whole test binary, outside the
/// source tree; returns (exit code, stdout, stderr).
pub(crate) fn kiln(args: &[&str]) -> (i32, String, String) {
    static STORE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let store = STORE.get_or_init(|| tempfile::tempdir().expect("tempdir")).path().join("kiln.db");
    kiln_at(&store.display().to_string(), args)
}

/// Run kiln in process against the tracking store at `store`.
pub(crate) fn kiln_at(store: &str, args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut full = vec!["kiln", "--store", store];
    full.extend_from_slice(args);
    let code = kiln_cli::run(full, &mut out, &mut err);
    (code, String::from_utf8(out).expect("utf-8 stdout"), String::from_utf8(err).expect("utf-8 stderr"))
}

/// A path under the repository root.
pub(crate) fn repo(path: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path).display().to_string()
}
