//! Each breaker trigger driven through a real server: scoring made to fail, to slow down
//! and to give NaN (the admin endpoint's fault injection), and rows outside the training
//! range. While open, the rules fallback answers, marked as such; half-open probes close it.

use std::time::Duration;

use kiln_serve::config::BreakerSettings;
use kiln_serve::source::Source;
use serde_json::{Value, json};

use super::{adult_test_rows, client, from_file, get, instances, loopback, metric, post, row_probabilities, runtime};
use crate::kiln_at;
use crate::predict::{adult_config, adult_rules};

fn train(store: &str, dir: &std::path::Path, name: &str, model: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let config = adult_config(dir, name, model, "");
    let bundle = dir.join(format!("{name}.safetensors"));
    let args = ["-q", "train", &config.display().to_string(), "--out", &bundle.display().to_string()];
    let (code, _, err) = kiln_at(store, &args);
    assert_eq!(code, 0, "{err}");
    (config, bundle)
}

#[test]
fn every_trigger_opens_the_breaker_the_rules_fallback_answers_and_probes_close_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let (config, gbdt) = train(&store, dir.path(), "gbdt", "[[models]]\nkind = \"gbdt\"\nnum_iterations = 10\n");
    let (_, rules) = train(&store, dir.path(), "rules", &adult_rules());
    let mut model = from_file("adult", &gbdt);
    model.fallback = Some(Source::File(rules.clone()));
    model.breaker = BreakerSettings {
        window: 10,
        min_requests: 5,
        open_seconds: 0.3,
        probes: 2,
        latency_budget_ms: Some(60.0),
        ..BreakerSettings::default()
    };
    let served = vec![model, from_file("adult-rules", &rules)];
    let rows = adult_test_rows(&config);
    let rt = runtime();
    let _in_runtime = rt.enter();
    let server = rt.block_on(kiln_serve::start(loopback(served))).expect("server");
    let base = format!("http://{}", server.addr());
    let client = client();
    let body = instances(&rows, 0..4);
    let ask = |name: &str, body: &Value| rt.block_on(post(&client, &format!("{base}/v1/models/{name}:predict"), body));
    let faults = |settings: Value| {
        let url = format!("{base}/admin/models/adult/faults");
        let response = rt.block_on(client.put(&url).json(&settings).send()).expect("faults");
        assert_eq!(response.status().as_u16(), 200);
    };
    let metrics = || rt.block_on(get(&client, &format!("{base}/metrics"))).1;
    let (_, by_rules, _) = ask("adult-rules", &body);
    let rules_p = row_probabilities(&by_rules);
    let (_, by_model, _) = ask("adult", &body);
    assert_eq!(by_model["route"], "primary");
    let model_p = row_probabilities(&by_model);
    assert_ne!(model_p, rules_p);

    // 1. scoring fails: every request is answered by the fallback; the fifth opens the breaker
    faults(json!({ "fail": true }));
    for _ in 0..5 {
        let (status, answer, _) = ask("adult", &body);
        assert_eq!((status, &answer["route"]), (200, &json!("fallback")), "{answer}");
        assert_eq!(row_probabilities(&answer), rules_p);
    }
    let text = metrics();
    let open = "kiln_serve_breaker_transitions_total{model=\"adult\",source=\"";
    assert!(text.lines().any(|l| l.starts_with(open) && l.contains("to=\"open\",trigger=\"error_rate\"} 1")), "{text}");
    assert_eq!(metric(&text, "kiln_serve_fallback_rows_total{model=\"adult\"}"), Some(20.0));
    // the fault cleared: open for 0.3 s, then two probes pass and close it
    faults(json!({}));
    std::thread::sleep(Duration::from_millis(350));
    for _ in 0..2 {
        let (_, answer, _) = ask("adult", &body);
        assert_eq!(answer["route"], "primary", "{answer}");
        assert_eq!(row_probabilities(&answer), model_p);
    }
    let text = metrics();
    assert!(text.lines().any(|l| l.starts_with(open) && l.contains("to=\"closed\",trigger=\"\"} 1")), "{text}");

    // 2. scoring slows down past the 60 ms budget: answered slowly by the model, then open
    faults(json!({ "delay_ms": 120 }));
    for _ in 0..5 {
        assert_eq!(ask("adult", &body).1["route"], "primary");
    }
    assert_eq!(ask("adult", &body).1["route"], "fallback");
    assert!(metrics().contains("to=\"open\",trigger=\"latency\"} 1"));

    // 3. NaN outputs: never returned; the fallback answers and the breaker opens at once
    reset(&rt, &client, &base);
    faults(json!({ "non_finite": true }));
    let (status, answer, _) = ask("adult", &body);
    assert_eq!((status, &answer["route"]), (200, &json!("fallback")));
    assert_eq!(row_probabilities(&answer), rules_p);
    assert!(metrics().contains("to=\"open\",trigger=\"non_finite\"} 1"));

    // 4. ages outside the training range (17 to 90) in every request: scored, then open
    reset(&rt, &client, &base);
    faults(json!({}));
    let mut odd = body.clone();
    odd["instances"].as_array_mut().expect("rows").iter_mut().for_each(|r| r["age"] = json!(140));
    for _ in 0..5 {
        assert_eq!(ask("adult", &odd).1["route"], "primary");
    }
    assert_eq!(ask("adult", &odd).1["route"], "fallback");
    let text = metrics();
    assert!(text.contains("to=\"open\",trigger=\"unusual_inputs\"} 1"), "{text}");
    // six requests of four rows each were counted, the last answered by the fallback
    assert_eq!(metric(&text, "kiln_serve_out_of_range_total{model=\"adult\",column=\"age\"}"), Some(24.0));
    rt.block_on(server.shutdown()).expect("shutdown");
}

/// Close every breaker of `adult` by hand.
fn reset(rt: &tokio::runtime::Runtime, client: &reqwest::Client, base: &str) {
    let url = format!("{base}/admin/models/adult/breaker");
    let (status, answer, _) = rt.block_on(post(client, &url, &json!({ "open": false })));
    assert_eq!(status, 200, "{answer}");
    assert!(answer["breakers"].as_array().expect("breakers").iter().all(|b| b["state"] == "closed"));
}
