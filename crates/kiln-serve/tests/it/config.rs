//! The `[serving]` config: a full file read, and settings that cannot work refused with the
//! key named.

use kiln_serve::config::{ServeConfig, Sticky};
use kiln_serve::source::Source;

fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("serve.toml");
    std::fs::write(&path, text).expect("write");
    (dir, path)
}

#[test]
fn a_full_serving_config_is_read() {
    let (_dir, path) = write(
        r#"
[serving]
bind = "127.0.0.1:9090"
store = "other/kiln.db"
poll_ms = 250

[[serving.models]]
name = "adult"
routes = [{ source = "adult@champion", weight = 90 }, { source = "adult@v7", weight = 10 }]
sticky = { header = "x-user-id" }
shadow = "adult@challenger"
canary = { source = "adult@v9", steps = [5, 25, 100], step_seconds = 600 }
fallback = "bundles/adult-rules.safetensors"
breaker = { latency_budget_ms = 20.0, max_error_rate = 0.2, window = 50, min_requests = 10, input_drift_share = 0.3 }

[serving.models.monitoring]
window_seconds = 600
buckets = 10
statistic = "jensenshannon"
thresholds = { age = 0.2 }
min_rows = 200

[serving.batching]
max_rows = 512
max_wait_us = 200
workers = 2

[serving.limits]
max_body_bytes = 1048576
queue = 64
"#,
    );
    let config = ServeConfig::read(&path).expect("config");
    assert_eq!(config.bind.to_string(), "127.0.0.1:9090");
    assert_eq!(config.poll_ms, 250);
    let model = &config.models[0];
    assert_eq!(model.routes[0].source, Source::Alias { name: "adult".into(), alias: "champion".into() });
    assert_eq!(model.routes[1].source, Source::Version { name: "adult".into(), version: 7 });
    assert_eq!(model.routes[1].weight, 10.0);
    assert_eq!(model.sticky, Some(Sticky::Header("x-user-id".into())));
    assert_eq!(model.canary.as_ref().map(|c| c.steps.clone()), Some(vec![5.0, 25.0, 100.0]));
    assert_eq!(model.fallback, Some(Source::File("bundles/adult-rules.safetensors".into())));
    assert_eq!(model.breaker.latency_budget_ms, Some(20.0));
    assert_eq!((model.breaker.window, model.breaker.probes), (50, 5));
    assert_eq!((config.batching.max_rows, config.limits.queue, config.limits.max_rows), (512, 64, 10_000));
    assert_eq!(model.breaker.input_drift_share, Some(0.3));
    let live = model.monitoring.live().expect("monitoring");
    assert_eq!((live.window.as_secs(), live.buckets, live.bins, live.min_rows), (600, 10, 32, 200));
    assert_eq!((live.statistic.name(), live.thresholds["age"], live.threshold()), ("jensenshannon", 0.2, 0.1));
}

#[test]
fn settings_that_cannot_work_are_refused_naming_the_key() {
    let cases = [
        ("[serving]\nmodels = []\n", "no model to serve"),
        ("[serving]\n[[serving.models]]\nname = \"a\"\nroutes = []\n", "`routes` is empty"),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"a@b\", weight = 0 }]\n",
            "every route has weight 0",
        ),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"a@b\" }]\ncanary = { source = \"a@c\", steps = [50, 10], step_seconds = 1 }\n",
            "`steps` must not decrease",
        ),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"a@b\" }]\nbreaker = { max_error_rate = 2.0 }\n",
            "shares from 0 to 1",
        ),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"nonsense\" }]\n",
            "is not a model reference",
        ),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"a@b\" }]\ncolour = 1\n",
            "unknown field `colour`",
        ),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"a@b\" }]\nmonitoring = { buckets = 0 }\n",
            "serving.models `a`: monitoring.buckets: 0 buckets: use 1 to 10000",
        ),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"a@b\" }]\nmonitoring = { window_seconds = -1 }\n",
            "monitoring.window_seconds: -1 is not a number of seconds above 0",
        ),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"a@b\" }]\nmonitoring = { statistic = \"wasserstein\" }\n",
            "monitoring.statistic: wasserstein is not computed from binned counts: use psi, jensenshannon, hellinger, chisquare, ks",
        ),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"a@b\" }]\nmonitoring = { statistic = \"psy\" }\n",
            "unknown variant `psy`, expected one of",
        ),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"a@b\" }]\nmonitoring = { thresholds = { age = -0.5 } }\n",
            "monitoring.thresholds: `age` = -0.5 is not a number >= 0",
        ),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"a@b\" }]\nbreaker = { input_drift_share = 0.5 }\nmonitoring = { enabled = false }\n",
            "breaker.input_drift_share needs live drift: set monitoring.enabled = true",
        ),
        (
            "[serving]\n[[serving.models]]\nname = \"a\"\nroutes = [{ source = \"a@b\" }]\nbreaker = { input_drift_share = 0 }\n",
            "breaker.input_drift_share is a share above 0 and at most 1",
        ),
    ];
    for (text, expected) in cases {
        let (_dir, path) = write(text);
        let e = ServeConfig::read(&path).expect_err(text).to_string();
        assert!(e.contains("serve.toml") && e.contains(expected), "{text}: {e}");
    }
}

#[test]
fn model_references_parse_as_alias_version_or_file() {
    let parse = |s: &str| s.parse::<Source>();
    assert_eq!(parse("adult@champion").ok(), Some(Source::Alias { name: "adult".into(), alias: "champion".into() }));
    assert_eq!(parse("adult@v3").ok(), Some(Source::Version { name: "adult".into(), version: 3 }));
    assert_eq!(parse("adult@3").ok(), Some(Source::Version { name: "adult".into(), version: 3 }));
    assert_eq!(parse("x/y.safetensors").ok(), Some(Source::File("x/y.safetensors".into())));
    for bad in ["adult", "@champion", "adult@", "a b@c"] {
        assert!(parse(bad).is_err(), "{bad}");
    }
}
