//! `kiln serve` as a real process: the admin token, the prediction log surviving a kill -9
//! with every flushed row, recovery of the torn segment on the next start, and a graceful
//! stop on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{adult_test_rows, client, get, instances, logged_rows, metric, post, runtime, spawn_server};
use crate::kiln_at;
use crate::predict::adult_config;

/// Start `kiln serve` on a loopback port it picks; the child and its address.
fn spawn(bundle: &Path, log_dir: &Path) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--log-dir"])
        .arg(log_dir)
        .arg("--bundle")
        .arg(format!("adult={}", bundle.display()))
        .env("KILN_SERVE_TOKEN", "s3cret");
    spawn_server(&mut command, Duration::from_secs(60))
}

#[test]
fn kiln_serve_keeps_every_flushed_row_through_a_kill_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let config = adult_config(dir.path(), "gbdt", "[[models]]\nkind = \"gbdt\"\nnum_iterations = 5\n", "");
    let bundle = dir.path().join("gbdt.safetensors");
    let (code, _, err) =
        kiln_at(&store, &["-q", "train", &config.display().to_string(), "--out", &bundle.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let rows = adult_test_rows(&config);
    let log_dir = dir.path().join("log");
    let (mut child, base) = spawn(&bundle, &log_dir);
    let rt = runtime();
    let _in_runtime = rt.enter();
    let client = client();

    // the admin endpoints need the token
    let (status, _, _) = rt.block_on(post(&client, &format!("{base}/admin/reload"), &json!({})));
    assert_eq!(status, 401);
    let authorised = client.post(format!("{base}/admin/reload")).bearer_auth("s3cret").send();
    assert_eq!(rt.block_on(authorised).expect("reload").status().as_u16(), 200);

    // 30 requests of 5 rows; once the log says they are written, kill -9
    let mut expected = Vec::new();
    for i in 0..30 {
        let (status, answer, _) =
            rt.block_on(post(&client, &format!("{base}/v1/models/adult:predict"), &instances(&rows, i * 5..i * 5 + 5)));
        assert_eq!(status, 200, "{answer}");
        let id = answer["request_id"].as_str().expect("id").to_owned();
        expected.extend((0..5).map(|r| (id.clone(), r)));
    }
    expected.sort();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut written = None;
    while written != Some(150.0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        written = metric(&rt.block_on(get(&client, &format!("{base}/metrics"))).1, "kiln_serve_log_rows_written");
    }
    assert_eq!(written, Some(150.0));
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let logged: Vec<(String, u32)> = logged_rows(&log_dir).into_iter().map(|r| (r.request_id, r.row)).collect();
    assert_eq!(logged, expected, "every flushed row survives the kill");

    // the next start recovers the open segment; SIGTERM stops it with exit 0
    let (mut child, base) = spawn(&bundle, &log_dir);
    let (status, _, _) =
        rt.block_on(post(&client, &format!("{base}/v1/models/adult:predict"), &instances(&rows, 0..2)));
    assert_eq!(status, 200);
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "kiln serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert_eq!(logged_rows(&log_dir).len(), 152);
    let open = walk_open(&log_dir);
    assert!(open.is_empty(), "segments left open after a graceful stop: {open:?}");
}

fn walk_open(dir: &Path) -> Vec<PathBuf> {
    let mut open = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").map_while(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            open.extend(walk_open(&path));
        } else if path.extension().is_some_and(|e| e == "open") {
            open.push(path);
        }
    }
    open
}
