//! A throwaway PostgreSQL server for tests: `initdb` and `pg_ctl` (Debian's `postgresql`
//! package) into a temporary folder, listening on 127.0.0.1 on a free port, one server per
//! process, started on first use, with a fresh database for each caller. A guard process stops
//! the server and removes its folder when the test process ends, however it ends (a failed
//! test, a panic, a kill). When the process runs as root the server runs as the `postgres`
//! user (initdb refuses root).
//!
//! [`server`] gives `None` (and says why on stderr) when no server binaries are installed and
//! `KILN_REQUIRE_POSTGRES` is unset; with it set, a missing or failing server is a panic.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set (to anything) to make a missing PostgreSQL a test failure rather than a skip.
pub const REQUIRE_ENV: &str = "KILN_REQUIRE_POSTGRES";

/// A running test server.
#[derive(Debug)]
pub struct TestServer {
    port: u16,
    folder: PathBuf,
    next_db: AtomicUsize,
}

impl TestServer {
    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its data folder (removed when the process ends).
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// URL of the database `name` as the superuser.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn fresh_database(&self) -> String {
        let name = format!("kiln_{}_{}", std::process::id(), self.next_db.fetch_add(1, Ordering::Relaxed));
        let mut admin = self.client("postgres");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a test database");
        self.url(&name)
    }

    /// A plain client on database `name`.
    pub fn client(&self, name: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(name), postgres::NoTls).expect("connect to the test server")
    }
}

/// The process's test server, started on first call; `None` when PostgreSQL is not installed
/// and not required.
pub fn server() -> Option<&'static TestServer> {
    static SERVER: OnceLock<Option<TestServer>> = OnceLock::new();
    SERVER.get_or_init(start).as_ref()
}

fn start() -> Option<TestServer> {
    let required = std::env::var_os(REQUIRE_ENV).is_some();
    let Some(bin) = find_binaries() else {
        assert!(!required, "{REQUIRE_ENV} is set but no PostgreSQL server binaries (initdb, pg_ctl) were found");
        let _ = writeln!(
            std::io::stderr(),
            "skipping the PostgreSQL tests: no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin \
             (install the postgresql package, or set {REQUIRE_ENV}=1 to make this a failure)"
        );
        return None;
    };
    let root = is_root();
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let folder = std::env::temp_dir().join(format!(
        "kiln-pg-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let data = folder.join("data");
    std::fs::create_dir_all(&folder).expect("create the server folder");
    if root {
        run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&folder), "chown the server folder");
    }
    let as_owner = |program: &Path| {
        if root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    };
    run(
        as_owner(&bin.join("initdb"))
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync", "-D"])
            .arg(&data),
        "initdb",
    );
    let port = free_port();
    let options = format!(
        "-h 127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
         -c max_connections=300",
        folder.display()
    );
    run(
        as_owner(&bin.join("pg_ctl"))
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .args(["-l"])
            .arg(folder.join("server.log"))
            .args(["-o", &options, "start"]),
        "pg_ctl start",
    );
    spawn_guard(&bin, &folder, &data, root);
    Some(TestServer { port, folder, next_db: AtomicUsize::new(0) })
}

/// A detached shell that waits for this process to end, then stops the server and removes
/// its folder.
#[expect(clippy::zombie_processes, reason = "the guard outlives this process on purpose")]
fn spawn_guard(bin: &Path, folder: &Path, data: &Path, root: bool) {
    let stop = format!("{} -D '{}' -m immediate stop", bin.join("pg_ctl").display(), data.display());
    let stop = if root { format!("runuser -u postgres -- {stop}") } else { stop };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf '{folder}'",
        pid = std::process::id(),
        folder = folder.display()
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the server's guard");
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The folder holding `initdb` and `pg_ctl`: on PATH, or the newest under
/// `/usr/lib/postgresql/*/bin` (Debian).
pub fn find_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| has_both(dir));
    if on_path.is_some() {
        return on_path;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_both(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}
