//! kiln-cli tests: the commands driven in process through `kiln_cli::run`, and the real
//! binary spawned once.

mod binary;
mod bundle_tasks;
mod configs;
mod data_cmds;
mod feedback;
mod golden;
mod init;
mod monitor;
mod predict;
mod resume;
mod retrain;
mod run_eval;
mod serve;
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

/// Whether `python3` can import numpy and safetensors for `scripts/bundle_check.py`. Fails the
/// test when `KILN_REQUIRE_PYTHON` is set (as `scripts/test.sh` does) and it cannot.
pub(crate) fn python_can_check_bundles() -> bool {
    let ready = std::process::Command::new("python3")
        .args(["-c", "import numpy, safetensors"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ready || std::env::var_os("KILN_REQUIRE_PYTHON").is_none(),
        "KILN_REQUIRE_PYTHON is set but python3 cannot import numpy and safetensors"
    );
    ready
}
