//! The server's probabilities equal `kiln predict`'s bit for bit, for every model kind, in
//! both protocols, for rows sent one by one (batched with others by the server) and in
//! large requests.

use std::sync::Arc;

use super::{adult_test_rows, client, from_file, instances, loopback, post, row_probabilities, runtime, v2_inputs};
use crate::predict::{adult_config, every_kind, floats, read_parquet, texts, train_and_predict};

#[test]
fn served_probabilities_equal_kiln_predict_bit_for_bit_for_every_model_kind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let kinds = every_kind();
    let mut models = Vec::new();
    let mut expected = Vec::new();
    let mut config = None;
    for (kind, model) in &kinds {
        let path = adult_config(dir.path(), kind, model, "");
        let bundle = dir.path().join(format!("{kind}.safetensors"));
        let preds = dir.path().join(format!("{kind}.parquet"));
        train_and_predict(&store, &path, &bundle, &preds);
        let df = read_parquet(&preds);
        expected.push((floats(&df, "p_>50K"), texts(&df, "predicted")));
        models.push(from_file(&format!("adult-{kind}"), &bundle));
        config = Some(path);
    }
    let rows = adult_test_rows(&config.expect("a config"));
    assert_eq!(rows.n_rows(), 16_281);
    let rt = runtime();
    let _in_runtime = rt.enter();
    let server = rt.block_on(kiln_serve::start(loopback(models))).expect("server");
    let base = format!("http://{}", server.addr());
    let client = client();
    for ((kind, _), (probabilities, labels)) in kinds.iter().zip(&expected) {
        // every row in requests of 2,000 (v2 tensors)
        let mut served = Vec::new();
        let mut served_labels = Vec::new();
        for start in (0..rows.n_rows()).step_by(2_000) {
            let end = (start + 2_000).min(rows.n_rows());
            let url = format!("{base}/v2/models/adult-{kind}/infer");
            let (status, answer, _) = rt.block_on(post(&client, &url, &v2_inputs(&rows, start..end)));
            assert_eq!(status, 200, "{kind}: {answer}");
            assert_eq!(answer["outputs"][0]["name"], "p_>50K");
            let p = answer["outputs"][0]["data"].as_array().expect("data");
            served.extend(p.iter().map(|x| x.as_f64().expect("f64")));
            let l = answer["outputs"][1]["data"].as_array().expect("labels");
            served_labels.extend(l.iter().map(|x| x.as_str().expect("label").to_owned()));
        }
        assert_eq!(served.len(), probabilities.len(), "{kind}");
        let same = served.iter().zip(probabilities).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{kind}: the server's probabilities differ from kiln predict's");
        assert_eq!(&served_labels, labels, "{kind}");
        // the first 300 rows one per request, 16 at a time, in the rows form: the server
        // batches them with each other and must still give the same bits
        let one_by_one = rt.block_on(async {
            let rows = Arc::new(rows.clone());
            let mut found = vec![0.0; 300];
            for chunk in (0..300).collect::<Vec<_>>().chunks(16) {
                let tasks: Vec<_> = chunk
                    .iter()
                    .map(|&r| {
                        let (client, rows, url) =
                            (client.clone(), rows.clone(), format!("{base}/v1/models/adult-{kind}:predict"));
                        tokio::spawn(async move { (r, post(&client, &url, &instances(&rows, r..r + 1)).await) })
                    })
                    .collect();
                for task in tasks {
                    let (r, (status, answer, _)) = task.await.expect("task");
                    assert_eq!(status, 200, "{answer}");
                    assert_eq!(answer["route"], "primary");
                    found[r] = row_probabilities(&answer)[0];
                }
            }
            found
        });
        let same = one_by_one.iter().zip(probabilities).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{kind}: single-row answers differ from kiln predict's");
    }
    rt.block_on(server.shutdown()).expect("shutdown");
}
