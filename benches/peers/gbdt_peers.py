#!/usr/bin/env python3
"""The peers of kiln's gradient-boosted trees, on the rows kiln encoded (benches/gbdt_peers.sh).

For each folder written by `cargo bench -p kiln-bench --bench gbdt_peer` (kiln's encoded
train/validation/test rows, labels, kiln's test predictions and timings), train LightGBM and
XGBoost with their defaults on the same training rows in the same encoding (categorical codes
declared categorical to LightGBM exactly when kiln's config does), and print side by side:
ROC AUC and log loss (binary), macro one-vs-rest ROC AUC, log loss and accuracy (multiclass),
RMSE and R^2 (regression); training seconds; predict rows/s on one thread and on every core;
single-row p50 latency. Every metric is computed here, by scikit-learn, for all three models.

    python3 benches/peers/gbdt_peers.py OUT_DIR [OUT_DIR ...] [--json results.json]
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def load(folder, name, n_cols=None):
    values = np.fromfile(os.path.join(folder, f"{name}.f64"), dtype="<f8")
    return values.reshape(-1, n_cols) if n_cols else values


def metrics(task, y, p):
    from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score, roc_auc_score

    if task == "binary":
        p = p.reshape(-1)
        return {"roc_auc": roc_auc_score(y, p), "log_loss": log_loss(y, np.clip(p, 1e-15, 1 - 1e-15))}
    if task == "multiclass":
        labels = list(range(p.shape[1]))
        return {
            "roc_auc": roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels),
            "log_loss": log_loss(y, p, labels=labels),
            "accuracy": accuracy_score(y, p.argmax(axis=1)),
        }
    p = p.reshape(-1)
    return {"rmse": float(np.sqrt(mean_squared_error(y, p))), "r2": r2_score(y, p)}


def best_of(repeats, f):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def throughput(predict, x, threads_all):
    """Rows/s on one thread and on every core, best of 5 after a warm-up."""
    predict(x, threads_all)
    return {
        "one_thread": len(x) / best_of(5, lambda: predict(x, 1)),
        "all_cores": len(x) / best_of(5, lambda: predict(x, threads_all)),
    }


def single_row_p50(predict, x, threads_all, n=2000):
    rows = [x[i : i + 1] for i in range(min(n, len(x)))]
    for row in rows[:100]:
        predict(row, threads_all)
    times = []
    for row in rows:
        start = time.perf_counter()
        predict(row, threads_all)
        times.append((time.perf_counter() - start) * 1e6)
    return float(np.percentile(times, 50))


def lightgbm_peer(meta, x_train, y_train, threads):
    import lightgbm as lgb

    task, n_classes = meta["task"], meta["n_classes"]
    params = {"verbosity": -1, "num_threads": threads, "seed": 42, "deterministic": True, "force_col_wise": True}
    params.update({"binary": {"objective": "binary"}, "multiclass": {"objective": "multiclass", "num_class": n_classes},
                   "regression": {"objective": "regression"}}[task])
    start, end = meta["codes"]
    categorical = list(range(start, end)) if meta["categorical"] else "auto"
    began = time.perf_counter()
    data = lgb.Dataset(x_train, y_train, categorical_feature=categorical, free_raw_data=False)
    booster = lgb.train(params, data, num_boost_round=100)
    seconds = time.perf_counter() - began
    return seconds, lambda x, t: booster.predict(x, num_threads=t)


def xgboost_peer(meta, x_train, y_train, threads):
    import xgboost as xgb

    task, n_classes = meta["task"], meta["n_classes"]
    params = {"nthread": threads, "seed": 42, "tree_method": "hist"}
    params.update({"binary": {"objective": "binary:logistic"},
                   "multiclass": {"objective": "multi:softprob", "num_class": n_classes},
                   "regression": {"objective": "reg:squarederror"}}[task])
    began = time.perf_counter()
    booster = xgb.train(params, xgb.DMatrix(x_train, label=y_train), num_boost_round=100)
    seconds = time.perf_counter() - began

    def predict(x, t):
        booster.set_param({"nthread": t})
        return booster.inplace_predict(x)

    return seconds, predict


def run(folder):
    with open(os.path.join(folder, "kiln.json")) as f:
        meta = json.load(f)
    n_cols, task = meta["n_cols"], meta["task"]
    x_train, y_train = load(folder, "train", n_cols), load(folder, "train_y")
    x_test, y_test = load(folder, "test", n_cols), load(folder, "test_y")
    threads = meta["threads"]
    kiln_pred = load(folder, "kiln_pred", meta["n_outputs"])
    results = {"kiln": {
        "metrics": metrics(task, y_test, kiln_pred),
        "train_seconds": meta["train_seconds"],
        "predict_rows_per_s": meta["predict_rows_per_s"],
        "single_row_p50_us": meta["single_row_us"]["p50"],
    }}
    for name, peer in (("lightgbm", lightgbm_peer), ("xgboost", xgboost_peer)):
        seconds, predict = peer(meta, x_train, y_train, threads)
        p = np.asarray(predict(x_test, threads)).reshape(len(x_test), -1)
        results[name] = {
            "metrics": metrics(task, y_test, p),
            "train_seconds": seconds,
            "predict_rows_per_s": throughput(predict, x_test, threads),
            "single_row_p50_us": single_row_p50(predict, x_test, threads),
        }
    return meta, results


def show(meta, results):
    rows = meta["n_rows"]
    print(f"\n## {meta['config']}  ({meta['task']}, train {rows['train']} / test {rows['test']} rows, "
          f"{meta['n_cols']} features, categorical {'native' if meta['categorical'] else 'codes'}, "
          f"{meta['threads']} threads)")
    keys = list(results["kiln"]["metrics"])
    print("| model | " + " | ".join(keys) + " | train s | predict rows/s, 1 thread | all cores | 1-row p50 us |")
    print("| --- |" + " ---: |" * (len(keys) + 4))
    for name, r in results.items():
        m = " | ".join(f"{r['metrics'][k]:.4f}" for k in keys)
        t = r["predict_rows_per_s"]
        print(f"| {name} | {m} | {r['train_seconds']:.2f} | {t['one_thread']:,.0f} | {t['all_cores']:,.0f} "
              f"| {r['single_row_p50_us']:.1f} |")
    k, lg = results["kiln"], results["lightgbm"]
    head = keys[0]
    print(f"{head}: kiln - LightGBM = {k['metrics'][head] - lg['metrics'][head]:+.4f}; "
          f"training time kiln / LightGBM = {k['train_seconds'] / lg['train_seconds']:.2f}x; "
          f"predict rows/s kiln / LightGBM: one thread {k['predict_rows_per_s']['one_thread'] / lg['predict_rows_per_s']['one_thread']:.2f}x, "
          f"all cores {k['predict_rows_per_s']['all_cores'] / lg['predict_rows_per_s']['all_cores']:.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--json", help="write every number here too")
    args = parser.parse_args()
    everything = {}
    for folder in args.folders:
        meta, results = run(folder)
        show(meta, results)
        everything[meta["config"]] = {"meta": meta, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(everything, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
