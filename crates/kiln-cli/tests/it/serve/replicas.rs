//! Replicas on one PostgreSQL store: two `kiln serve` processes serve `adult@champion` from the
//! same registry; a promotion made by a third process (`kiln models promote`) reaches both
//! within the stated bound, their poll interval plus the new version's load time.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::registry::{promote, run};
use super::{adult_test_rows, client, instances, post, runtime, spawn_server};
use crate::predict::{adult_config, adult_rules};

const POLL_MS: u64 = 200;

/// A `kiln serve` process on `store`, killed when dropped.
struct Replica {
    child: Child,
    base: String,
}

impl Replica {
    fn start(store: &str, config: &Path) -> Replica {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
        command
            .args(["--store", store, "serve", "--bind", "127.0.0.1:0", "--config"])
            .arg(config)
            .stdout(Stdio::null());
        let (child, base) = spawn_server(&mut command, Duration::from_secs(120));
        Replica { child, base }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_replicas_on_one_postgres_store_follow_a_promotion_from_a_third_process() {
    let Some(server) = kiln_track::pgtest::server() else {
        return;
    };
    let store = server.fresh_database();
    let dir = tempfile::tempdir().expect("tempdir");
    let v1 = run(&store, dir.path(), 10);
    promote(&store, v1);
    let v2 = run(&store, dir.path(), 12);
    assert_ne!(v1, v2);
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[serving]\npoll_ms = {POLL_MS}\n\n[[serving.models]]\nname = \"adult\"\nroutes = [{{ source = \"adult@champion\" }}]\n"
        ),
    )
    .expect("write the serving config");
    let replicas = [Replica::start(&store, &config), Replica::start(&store, &config)];

    let rt = runtime();
    let _in_runtime = rt.enter();
    let client = client();
    let rows = adult_test_rows(&adult_config(dir.path(), "rows", &adult_rules(), ""));
    let body = instances(&rows, 0..3);
    let version = |base: &str| {
        let (status, answer, _) = rt.block_on(post(&client, &format!("{base}/v1/models/adult:predict"), &body));
        assert_eq!(status, 200, "{answer}");
        answer["version"].as_i64().expect("version")
    };
    for replica in &replicas {
        assert_eq!(version(&replica.base), v1, "both replicas serve the champion");
    }

    // A third process moves the alias; each replica answers with v2 within the bound.
    let moved = Instant::now();
    promote(&store, v2);
    let promoted_after = moved.elapsed();
    let deadline = moved + Duration::from_secs(30);
    let mut seen = Vec::new();
    for replica in &replicas {
        loop {
            if version(&replica.base) == v2 {
                seen.push(moved.elapsed());
                break;
            }
            assert!(Instant::now() < deadline, "replica {} still serves v{v1} after 30 s", replica.base);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "replicas serve v{v2}: promotion process took {promoted_after:?}; replicas answered with it after {seen:?} \
         (poll {POLL_MS} ms plus load)"
    );
    for replica in &replicas {
        assert_eq!(version(&replica.base), v2, "and keep serving it");
    }
}
