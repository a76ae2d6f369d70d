//! The synthetic generator produces realistic runs that the queries read back (the 100,000-run
//! timing lives in `benches/runs_list.rs`).

use kiln_track::synth::{SYNTH_METRICS, SYNTH_STEPS, fill_store};
use kiln_track::{RunFilter, RunSort};

use crate::support::{Backend, on_both_backends, temp_store};

fn generated_runs_are_complete_and_queryable(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    fill_store(&store, 300, 7).expect("fill");
    store.optimize().expect("optimize");
    let all = store.list_runs(&RunFilter::default()).expect("list");
    assert_eq!(all.len(), 300);
    let detail = store.show_run(all[0].id.as_str()).expect("show");
    assert!(detail.params.len() >= 20, "{:?}", detail.params);
    assert_eq!(detail.metrics.len(), SYNTH_METRICS.len());
    assert!(detail.metrics.values().all(|series| series.len() as u64 == SYNTH_STEPS));
    assert_eq!(detail.artifacts.len(), 3);
    assert!(detail.data.data_hash.is_some() && detail.data.split_hash.is_some());

    let top = store
        .list_runs(&RunFilter {
            metrics: vec!["auc>=0.9".parse().expect("metric")],
            sort: RunSort::Metric { key: "auc".to_owned(), descending: true },
            limit: Some(20),
            ..RunFilter::default()
        })
        .expect("top");
    assert!(!top.is_empty() && top.len() <= 20);
    assert!(top.windows(2).all(|pair| pair[0].metrics["auc"] >= pair[1].metrics["auc"]));
    assert!(top.iter().all(|run| run.metrics["auc"] >= 0.9));

    // The same seed gives the same parameters.
    let (_other_dir, other) = temp_store(backend);
    fill_store(&other, 300, 7).expect("fill");
    let first_other = other.list_runs(&RunFilter::default()).expect("list");
    let detail_other = other.show_run(first_other[0].id.as_str()).expect("show");
    assert_eq!(detail.params, detail_other.params);
}

on_both_backends!(generated_runs_are_complete_and_queryable,);
