//! `runs list` filters and sorting, `show` by id prefix, and `diff`.

use kiln_track::{CmpOp, Error, MetricFilter, ParamFilter, RunFilter, RunId, RunSort, RunStatus, Store};

use crate::support::{Backend, Fixture, new_run, on_both_backends, temp_store};

/// Five finished runs with known parameters and metrics, plus one failed run.
fn fixture(backend: Backend) -> (Fixture, Store, Vec<RunId>) {
    let (dir, store) = temp_store(backend);
    let mut ids = Vec::new();
    let specs = [
        ("0.1", "d1", 0.91, 0.30),
        ("0.01", "d1", 0.95, 0.20),
        ("0.1", "d2", 0.85, 0.40),
        ("0.001", "d2", 0.97, 0.10),
        ("0.1", "d1", 0.90, 0.35),
    ];
    for (index, (lr, data, auc, loss)) in specs.into_iter().enumerate() {
        let run = store.start_run(&new_run("churn", &[("lr", lr), ("model", "gbdt")], data)).expect("start");
        // Earlier steps hold worse values: filters and sorts must use the latest step.
        run.log_metrics(&[("auc", 0, 0.5), ("auc", 9, auc), ("loss", 0, 2.0), ("loss", 9, loss)]).expect("log");
        ids.push(run.id().clone());
        run.finish(RunStatus::Finished).expect("finish");
        // Distinct start milliseconds keep the time order unambiguous.
        std::thread::sleep(std::time::Duration::from_millis(2 + index as u64 % 2));
    }
    let failed = store.start_run(&new_run("churn", &[("lr", "1.0")], "d3")).expect("start");
    ids.push(failed.id().clone());
    failed.fail("diverged").expect("fail");
    (dir, store, ids)
}

fn ids_of(store: &Store, filter: &RunFilter) -> Vec<RunId> {
    store.list_runs(filter).expect("list").into_iter().map(|run| run.id).collect()
}

#[test]
fn filters_parse_from_their_command_line_spelling() {
    let metric: MetricFilter = "auc>=0.9".parse().expect("metric");
    assert_eq!((metric.key.as_str(), metric.op, metric.value), ("auc", CmpOp::Ge, 0.9));
    let cases = [
        ("loss<0.3", CmpOp::Lt),
        ("loss <= 0.3", CmpOp::Le),
        ("auc>0.5", CmpOp::Gt),
        ("epochs=10", CmpOp::Eq),
        ("epochs==10", CmpOp::Eq),
        ("acc!=1", CmpOp::Ne),
    ];
    for (text, op) in cases {
        assert_eq!(text.parse::<MetricFilter>().expect(text).op, op, "{text}");
    }
    for bad in ["auc", ">=0.9", "auc>=high", "auc=>0.9", "auc>=nan"] {
        assert!(matches!(bad.parse::<MetricFilter>(), Err(Error::ParseFilter { .. })), "{bad}");
    }
    let param: ParamFilter = "optimizer=adam".parse().expect("param");
    assert_eq!((param.key.as_str(), param.value.as_str()), ("optimizer", "adam"));
    assert!("=adam".parse::<ParamFilter>().is_err());
    assert_eq!("auc".parse::<RunSort>().expect("sort"), RunSort::Metric { key: "auc".to_owned(), descending: true });
    assert_eq!(
        "loss:asc".parse::<RunSort>().expect("sort"),
        RunSort::Metric { key: "loss".to_owned(), descending: false }
    );
    assert_eq!("started:asc".parse::<RunSort>().expect("sort"), RunSort::Started { descending: false });
    assert!("auc:up".parse::<RunSort>().is_err());
    assert_eq!("failed".parse::<RunStatus>().expect("status"), RunStatus::Failed);
}

fn lists_newest_first_by_default_with_a_limit(backend: Backend) {
    let (_dir, store, ids) = fixture(backend);
    let all = ids_of(&store, &RunFilter::default());
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(all, newest_first);
    let oldest = ids_of(
        &store,
        &RunFilter { sort: RunSort::Started { descending: false }, limit: Some(2), ..RunFilter::default() },
    );
    assert_eq!(oldest, ids[..2].to_vec());
    let summary = &store.list_runs(&RunFilter::default()).expect("list")[1];
    assert_eq!(summary.metrics["auc"], 0.90);
    assert_eq!(summary.metrics["loss"], 0.35);
}

fn filters_by_metric_parameter_status_and_data(backend: Backend) {
    let (_dir, store, ids) = fixture(backend);
    let metric = |text: &str| RunFilter {
        metrics: vec![text.parse().expect("metric")],
        sort: RunSort::Started { descending: false },
        ..RunFilter::default()
    };
    assert_eq!(ids_of(&store, &metric("auc>=0.91")), vec![ids[0].clone(), ids[1].clone(), ids[3].clone()]);
    assert_eq!(ids_of(&store, &metric("auc>0.91")), vec![ids[1].clone(), ids[3].clone()]);
    assert_eq!(ids_of(&store, &metric("auc<0.9")), vec![ids[2].clone()]);
    assert_eq!(ids_of(&store, &metric("auc<=0.9")), vec![ids[2].clone(), ids[4].clone()]);
    assert_eq!(ids_of(&store, &metric("auc=0.95")), vec![ids[1].clone()]);
    assert_eq!(ids_of(&store, &metric("auc!=0.95")).len(), 4);

    let by_param = RunFilter {
        params: vec!["lr=0.1".parse().expect("param")],
        sort: RunSort::Started { descending: false },
        ..RunFilter::default()
    };
    assert_eq!(ids_of(&store, &by_param), vec![ids[0].clone(), ids[2].clone(), ids[4].clone()]);

    let combined = RunFilter {
        params: vec!["lr=0.1".parse().expect("param"), "model=gbdt".parse().expect("param")],
        metrics: vec!["auc>=0.9".parse().expect("metric"), "loss<0.35".parse().expect("metric")],
        data_hash: Some("d1".to_owned()),
        ..RunFilter::default()
    };
    assert_eq!(ids_of(&store, &combined), vec![ids[0].clone()]);

    let failed = RunFilter { status: Some(RunStatus::Failed), ..RunFilter::default() };
    assert_eq!(ids_of(&store, &failed), vec![ids[5].clone()]);

    let by_data = RunFilter {
        data_hash: Some("d2".to_owned()),
        sort: RunSort::Started { descending: false },
        ..RunFilter::default()
    };
    assert_eq!(ids_of(&store, &by_data), vec![ids[2].clone(), ids[3].clone()]);
    let bad_hash = RunFilter { data_hash: Some("d*".to_owned()), ..RunFilter::default() };
    assert!(matches!(store.list_runs(&bad_hash), Err(Error::ParseFilter { .. })));
}

fn sorts_by_a_metric_both_ways(backend: Backend) {
    let (_dir, store, ids) = fixture(backend);
    let by_auc = RunFilter { sort: "auc".parse().expect("sort"), ..RunFilter::default() };
    let expected_desc = vec![ids[3].clone(), ids[1].clone(), ids[0].clone(), ids[4].clone(), ids[2].clone()];
    assert_eq!(ids_of(&store, &by_auc), expected_desc);
    let by_loss = RunFilter {
        sort: "loss:asc".parse().expect("sort"),
        metrics: vec!["auc>=0.9".parse().expect("metric")],
        limit: Some(2),
        ..RunFilter::default()
    };
    assert_eq!(ids_of(&store, &by_loss), vec![ids[3].clone(), ids[1].clone()]);
    let filtered_and_sorted_on_one_key = RunFilter {
        sort: "auc:desc".parse().expect("sort"),
        metrics: vec!["auc>=0.91".parse().expect("metric")],
        limit: Some(2),
        ..RunFilter::default()
    };
    assert_eq!(ids_of(&store, &filtered_and_sorted_on_one_key), vec![ids[3].clone(), ids[1].clone()]);
}

fn show_accepts_a_unique_prefix(backend: Backend) {
    let (_dir, store, ids) = fixture(backend);
    let id = ids[2].as_str();
    // The random suffix makes the full id unique; a prefix that ends inside it still is.
    let prefix = &id[..id.len() - 1];
    let matching = ids.iter().filter(|other| other.as_str().starts_with(prefix)).count();
    if matching == 1 {
        assert_eq!(store.show_run(prefix).expect("prefix").id, ids[2]);
    }
    assert_eq!(store.resolve_run(id).expect("exact"), ids[2]);
    let common = &id[..4];
    let err = store.show_run(common).expect_err("ambiguous");
    assert!(matches!(&err, Error::AmbiguousRunId { candidates, .. } if candidates.len() == 6), "{err:?}");
    assert!(matches!(store.show_run("zzz"), Err(Error::RunNotFound { .. })));
    assert!(matches!(store.show_run(""), Err(Error::RunNotFound { .. })));
    assert!(matches!(store.show_run("2*"), Err(Error::RunNotFound { .. })));
}

fn diff_marks_what_differs(backend: Backend) {
    let (_dir, store, ids) = fixture(backend);
    let diff = store.diff_runs(ids[0].as_str(), ids[3].as_str()).expect("diff");
    assert_eq!((diff.a.clone(), diff.b.clone()), (ids[0].clone(), ids[3].clone()));
    let lr = diff.params.iter().find(|row| row.key == "lr").expect("lr");
    assert_eq!((lr.a.as_deref(), lr.b.as_deref(), lr.differs), (Some("0.1"), Some("0.001"), true));
    let model = diff.params.iter().find(|row| row.key == "model").expect("model");
    assert!(!model.differs);
    let data = diff.data.iter().find(|row| row.key == "data_hash").expect("data");
    assert_eq!((data.a.as_deref(), data.b.as_deref(), data.differs), (Some("d1"), Some("d2"), true));
    let seed = diff.setup.iter().find(|row| row.key == "seed").expect("seed");
    assert!(!seed.differs);
    let auc = diff.metrics.iter().find(|row| row.key == "auc").expect("auc");
    assert_eq!((auc.a, auc.b), (Some(0.91), Some(0.97)));
    assert!(auc.differs);
    assert!((auc.delta.expect("delta") - 0.06).abs() < 1e-12);

    let with_failed = store.diff_runs(ids[0].as_str(), ids[5].as_str()).expect("diff");
    let auc = with_failed.metrics.iter().find(|row| row.key == "auc").expect("auc");
    assert_eq!((auc.b, auc.delta, auc.differs), (None, None, true));
    let status = with_failed.setup.iter().find(|row| row.key == "status").expect("status");
    assert_eq!(status.b.as_deref(), Some("failed"));
    let same = store.diff_runs(ids[0].as_str(), ids[0].as_str()).expect("diff");
    assert!(same.params.iter().chain(&same.data).chain(&same.setup).all(|row| !row.differs));
    assert!(same.metrics.iter().all(|row| !row.differs));
}

on_both_backends!(
    lists_newest_first_by_default_with_a_limit,
    filters_by_metric_parameter_status_and_data,
    sorts_by_a_metric_both_ways,
    show_accepts_a_unique_prefix,
    diff_marks_what_differs,
);
