//! A real MLflow tracking server for the export tests (`mlflow server` on a loopback port, a
//! SQLite backend store and proxied artifacts in a temporary folder), stopped with its workers
//! when the guard drops, and MLflow's own Python client reading back what it holds
//! (`scripts/mlflow_readback.py`). The kiln-cli tests include this file too.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Whether `python3` can import mlflow. Without it the MLflow tests skip, saying why, unless
/// `KILN_REQUIRE_MLFLOW` is set (as `scripts/test.sh` does), which fails them instead.
#[allow(clippy::print_stderr, reason = "a skipped test says so in the test output")]
pub(crate) fn mlflow_ready() -> bool {
    let ready = Command::new("python3").args(["-c", "import mlflow"]).output().is_ok_and(|o| o.status.success());
    assert!(
        ready || std::env::var_os("KILN_REQUIRE_MLFLOW").is_none(),
        "KILN_REQUIRE_MLFLOW is set but python3 cannot import mlflow \
         (pip install -r scripts/requirements-mlflow.txt)"
    );
    if !ready {
        eprintln!("skip: python3 cannot import mlflow (pip install -r scripts/requirements-mlflow.txt)");
    }
    ready
}

/// A loopback port nothing listens on (the OS's pick, released again).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// A running `mlflow server`; dropping it stops the server and its workers.
pub(crate) struct MlflowServer {
    pub(crate) url: String,
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl MlflowServer {
    /// Starts a server that proxies artifacts (`mlflow server`'s default) and waits
    /// (boundedly) until `/health` answers.
    pub(crate) fn start() -> MlflowServer {
        MlflowServer::start_serving(true)
    }

    /// Starts a server, with the artifact proxy or (`--no-serve-artifacts`) without it. A server
    /// that exits before answering (its port taken meanwhile) is started again on another port.
    pub(crate) fn start_serving(artifacts: bool) -> MlflowServer {
        let mut last_log = String::new();
        for _ in 0..3 {
            let mut server = MlflowServer::spawn(artifacts);
            match server.wait_healthy() {
                Ok(()) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("mlflow server exited before answering, three times; last log:\n{last_log}");
    }

    fn spawn(artifacts: bool) -> MlflowServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("server log");
        let mut command = Command::new("mlflow");
        command
            .arg("server")
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", dir.path().join("mlflow.db").display()));
        if artifacts {
            command.arg("--artifacts-destination").arg(dir.path().join("artifacts"));
        } else {
            command.arg("--no-serve-artifacts").arg("--default-artifact-root").arg(dir.path().join("artifacts"));
        }
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        // Its own process group, so that the workers it forks stop with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("start `mlflow server` (is mlflow installed for python3?)");
        MlflowServer { url: format!("http://127.0.0.1:{port}"), port, child, dir }
    }

    /// Waits (boundedly) for `/health`; the server's log when it exited first.
    fn wait_healthy(&mut self) -> Result<(), String> {
        for _ in 0..480 {
            if self.child.try_wait().expect("poll mlflow server").is_some() {
                return Err(self.log());
            }
            if http_get(self.port, "/health").is_some_and(|answer| answer.starts_with("HTTP/1.1 200")) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("mlflow server did not answer /health within 120 s:\n{}", self.log());
    }

    /// The server's log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        for _ in 0..40 {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }
}

/// One plain HTTP/1.1 GET on loopback; the raw answer, or `None` when nothing answers.
pub(crate) fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// Everything the server at `url` holds, read with MLflow's Python client.
pub(crate) fn read_back(url: &str) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mlflow_readback.py");
    let output = Command::new("python3").arg(script).arg(url).output().expect("run mlflow_readback.py");
    assert!(output.status.success(), "mlflow_readback.py failed:\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("mlflow_readback.py prints JSON")
}
