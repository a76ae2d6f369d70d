//! Bad requests get 4xx answers that name the column, row and fix; unseen categories and
//! missing values are scored and counted; request ids travel; load beyond the limits is shed
//! with 503 and Retry-After; shutdown drains the requests in flight.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{adult_test_rows, client, from_file, get, instances, loopback, metric, post, runtime, v2_inputs};
use crate::kiln_at;
use crate::predict::adult_config;

fn gbdt(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let store = dir.join("kiln.db").display().to_string();
    let config = adult_config(dir, "gbdt", "[[models]]\nkind = \"gbdt\"\nnum_iterations = 5\n", "");
    let bundle = dir.join("gbdt.safetensors");
    let args = ["-q", "train", &config.display().to_string(), "--out", &bundle.display().to_string()];
    let (code, _, err) = kiln_at(&store, &args);
    assert_eq!(code, 0, "{err}");
    (config, bundle)
}

#[test]
fn client_mistakes_are_4xx_answers_in_kiln_terms_and_notes_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, bundle) = gbdt(dir.path());
    let rows = adult_test_rows(&config);
    let mut serve = loopback(vec![from_file("adult", &bundle)]);
    serve.limits.max_body_bytes = 10_000;
    serve.limits.max_rows = 20;
    let rt = runtime();
    let _in_runtime = rt.enter();
    let server = rt.block_on(kiln_serve::start(serve)).expect("server");
    let base = format!("http://{}", server.addr());
    let client = client();
    let rows_url = format!("{base}/v1/models/adult:predict");
    let ask = |url: &str, body: &Value| rt.block_on(post(&client, url, body));
    let good = instances(&rows, 0..3);
    let edit = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut body = good.clone();
        body["instances"].as_array_mut().expect("rows").iter_mut().for_each(|r| f(r.as_object_mut().expect("row")));
        body
    };
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            edit(&|r| {
                r.remove("age");
            }),
            422,
            "invalid_rows",
            "column `age` is missing (the model reads it as a numeric feature)",
        ),
        (
            edit(&|r| {
                r.insert("zip".into(), json!("02139"));
            }),
            422,
            "invalid_rows",
            "column `zip` is not in the model's schema",
        ),
        (
            edit(&|r| {
                r.insert("hours_per_week".into(), json!("forty"));
            }),
            422,
            "invalid_rows",
            "column `hours_per_week`: 3 value(s) are string where int is declared (row 1, 2, 3)",
        ),
        (
            edit(&|r| {
                r.insert("capital_gain".into(), json!("Infinity"));
            }),
            422,
            "invalid_rows",
            "column `capital_gain`: 3 value(s) are string where int is declared (row 1, 2, 3)",
        ),
        (json!({ "rows": [] }), 400, "bad_request", "the body has no `instances` array"),
        (instances(&rows, 0..21), 413, "too_many_rows", "the request holds 21 rows; this server scores at most 20"),
        (instances(&rows, 0..45), 413, "body_too_large", "larger than this server's limit of 10000 bytes"),
    ];
    for (body, status, kind, message) in cases {
        let (found, answer, _) = ask(&rows_url, &body);
        assert_eq!(found, status, "{answer}");
        assert_eq!(answer["error"]["kind"], kind, "{answer}");
        let text = answer["error"]["message"].as_str().expect("message");
        assert!(text.contains(message), "{text}");
        assert!(answer["error"]["fix"].as_str().is_some_and(|f| !f.is_empty()));
    }
    // the row check's problems come as data too
    let (_, answer, _) = ask(
        &rows_url,
        &edit(&|r| {
            r.remove("age");
        }),
    );
    assert_eq!(answer["error"]["rows"]["problems"][0]["column"], "age");
    assert_eq!(answer["error"]["rows"]["problems"][0]["problem"], "missing_column");
    // unknown model, unknown version, malformed JSON, an unknown endpoint
    let (status, answer, _) = ask(&format!("{base}/v1/models/income:predict"), &good);
    assert_eq!((status, &answer["error"]["kind"]), (404, &json!("unknown_model")));
    assert!(answer["error"]["fix"].as_str().expect("fix").contains("adult"));
    let (status, answer, _) = ask(&format!("{base}/v2/models/adult/versions/7/infer"), &v2_inputs(&rows, 0..1));
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"]["message"], "version `7` of `adult` is not served");
    let response = rt.block_on(client.post(&rows_url).body("{\"instances\": [").send()).expect("send");
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = rt.block_on(response.json()).expect("json");
    assert_eq!(answer["error"]["message"], "the request body is not valid JSON: it ends too early at line 1 column 15");

    // unseen categories and missing values are scored and counted
    let (status, answer, headers) = ask(
        &rows_url,
        &edit(&|r| {
            r.insert("workclass".into(), json!("Astronaut"));
            r.insert("occupation".into(), Value::Null);
        }),
    );
    assert_eq!(status, 200, "{answer}");
    let (_, text) = rt.block_on(get(&client, &format!("{base}/metrics")));
    assert_eq!(metric(&text, "kiln_serve_unseen_categories_total{model=\"adult\",column=\"workclass\"}"), Some(3.0));
    assert_eq!(metric(&text, "kiln_serve_missing_values_total{model=\"adult\",column=\"occupation\"}"), Some(3.0));
    assert!(
        metric(&text, "kiln_serve_errors_total{model=\"adult\",kind=\"client\"}").is_some_and(|n| n >= 8.0),
        "{text}"
    );
    // a generated request id, in the header and the body
    let id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).expect("request id");
    assert_eq!(answer["request_id"], id);
    // a given one is kept
    let response =
        rt.block_on(client.post(&rows_url).header("x-request-id", "req-42").json(&good).send()).expect("send");
    assert_eq!(response.headers()["x-request-id"], "req-42");
    let answer: Value = rt.block_on(response.json()).expect("json");
    assert_eq!(answer["request_id"], "req-42");
    // v2 metadata names the inputs with their types
    let (_, metadata) = rt.block_on(get(&client, &format!("{base}/v2/models/adult")));
    let metadata: Value = serde_json::from_str(&metadata).expect("json");
    let age = metadata["inputs"].as_array().expect("inputs").iter().find(|i| i["name"] == "age").expect("age");
    assert_eq!(age["datatype"], "INT64");
    assert_eq!(metadata["outputs"][0]["name"], "p_>50K");
    rt.block_on(server.shutdown()).expect("shutdown");
}

#[test]
fn load_beyond_the_limits_is_shed_and_shutdown_drains_requests_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, bundle) = gbdt(dir.path());
    let rows = Arc::new(adult_test_rows(&config));
    let mut serve = loopback(vec![from_file("adult", &bundle)]);
    serve.limits.max_concurrent = 2;
    let rt = runtime();
    let _in_runtime = rt.enter();
    let server = rt.block_on(kiln_serve::start(serve)).expect("server");
    let base = format!("http://{}", server.addr());
    let client = client();
    let slow = json!({ "delay_ms": 400 });
    let response =
        rt.block_on(client.put(format!("{base}/admin/models/adult/faults")).json(&slow).send()).expect("faults");
    assert_eq!(response.status().as_u16(), 200);
    let burst = |n: usize| {
        (0..n)
            .map(|i| {
                let (client, rows, url) = (client.clone(), rows.clone(), format!("{base}/v1/models/adult:predict"));
                rt.spawn(async move {
                    let response = client.post(&url).json(&instances(&rows, i..i + 1)).send().await.expect("send");
                    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap_or("").to_owned());
                    (response.status().as_u16(), retry)
                })
            })
            .collect::<Vec<_>>()
    };
    // 8 at once against 2 slots, each held 400 ms: the rest are shed at once
    let results: Vec<(u16, Option<String>)> = burst(8).into_iter().map(|t| rt.block_on(t).expect("task")).collect();
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let shed: Vec<_> = results.iter().filter(|(s, _)| *s == 503).collect();
    assert_eq!(ok + shed.len(), 8, "{results:?}");
    assert!((1..=2).contains(&ok), "{results:?}");
    assert!(shed.iter().all(|(_, retry)| retry.as_deref() == Some("1")), "{results:?}");
    let (_, text) = rt.block_on(get(&client, &format!("{base}/metrics")));
    assert_eq!(metric(&text, "kiln_serve_shed_total"), Some(shed.len() as f64));

    // two slow requests in flight, then shutdown: both are answered
    let in_flight = burst(2);
    std::thread::sleep(Duration::from_millis(100));
    rt.block_on(server.shutdown()).expect("shutdown");
    for task in in_flight {
        assert_eq!(rt.block_on(task).expect("task").0, 200);
    }
    let refused = rt.block_on(client.get(format!("{base}/v2/health/live")).send());
    assert!(refused.is_err(), "the server still answers after shutdown");
}

#[test]
fn a_request_over_the_timeout_is_answered_503_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, bundle) = gbdt(dir.path());
    let rows = adult_test_rows(&config);
    let mut serve = loopback(vec![from_file("adult", &bundle)]);
    serve.limits.timeout_ms = 150;
    let rt = runtime();
    let _in_runtime = rt.enter();
    let server = rt.block_on(kiln_serve::start(serve)).expect("server");
    let base = format!("http://{}", server.addr());
    let client = client();
    let slow = json!({ "delay_ms": 600 });
    let response =
        rt.block_on(client.put(format!("{base}/admin/models/adult/faults")).json(&slow).send()).expect("faults");
    assert_eq!(response.status().as_u16(), 200);
    let (status, answer, headers) =
        rt.block_on(post(&client, &format!("{base}/v1/models/adult:predict"), &instances(&rows, 0..1)));
    assert_eq!((status, &answer["error"]["kind"]), (503, &json!("timeout")), "{answer}");
    assert_eq!(headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let (_, text) = rt.block_on(get(&client, &format!("{base}/metrics")));
    assert_eq!(
        (metric(&text, "kiln_serve_timeouts_total"), metric(&text, "kiln_serve_shed_total")),
        (Some(1.0), Some(0.0))
    );
    // the server answers on once the slow scoring is over
    let cleared = rt.block_on(client.put(format!("{base}/admin/models/adult/faults")).json(&json!({})).send());
    assert_eq!(cleared.expect("faults").status().as_u16(), 200);
    std::thread::sleep(Duration::from_millis(600));
    let (status, answer, _) =
        rt.block_on(post(&client, &format!("{base}/v1/models/adult:predict"), &instances(&rows, 0..1)));
    assert_eq!(status, 200, "{answer}");
    rt.block_on(server.shutdown()).expect("shutdown");
}
