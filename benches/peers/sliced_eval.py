"""Peers of kiln's sliced evaluation (benches/benches/sliced_eval.rs), on the same rows.

Reads the .npy columns that the Rust benchmark wrote (labels, scores, segments a, b, c) and,
for the slicings a, b, c and the cross a x b, computes count, accuracy (score >= 0.5), ROC AUC
and log loss per group with

  1. pandas groupby + scikit-learn metric functions per group,
  2. fairlearn MetricFrame with scikit-learn metric functions (one frame per slicing; the cross
     as two sensitive features),
  3. polars expressions in one group_by/agg per slicing, AUC from average ranks:
     AUC = (sum of the positives' midranks - n1 (n1 + 1) / 2) / (n1 n0).

Data loading and frame construction are outside the timings (as kiln's data generation and I/O
are). A peer whose estimated time on all rows exceeds 5 minutes (from a run on the first
1,000,000 rows) is timed on those rows only and extrapolated linearly; it is then checked
against kiln's results on the same prefix. Prints a table of times and ratios, and the largest
absolute difference of each metric against kiln; exits 1 when one exceeds 1e-9.

    python benches/peers/sliced_eval.py DIR
    KILN_PEERS=polars python benches/peers/sliced_eval.py DIR   # only the peers named (comma-separated:
                                                                 # pandas, fairlearn, polars)
"""

import json
import math
import os
import sys
import time

try:
    import numpy as np
    import polars as pl
except ImportError as e:  # pragma: no cover
    print(
        f"missing Python package {e.name!r}: pip install -r benches/peers/requirements.txt",
        file=sys.stderr,
    )
    sys.exit(2)
try:  # only the pandas and fairlearn peers need these
    import pandas as pd
    from fairlearn.metrics import MetricFrame, count
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
    MISSING = None
except ImportError as e:  # pragma: no cover
    pd = None
    MISSING = e.name


THRESHOLD = 0.5
N_B = 8  # the cross a x b has code a * 8 + b
SLICINGS = [("a", ["a"]), ("b", ["b"]), ("c", ["c"]), ("a_x_b", ["a", "b"])]
METRICS = ["count", "accuracy", "roc_auc", "log_loss"]
BUDGET_S = 300.0
TOLERANCE = 1e-9


def code(key):
    """Group code of a groupby key: the value, or a * 8 + b for the cross."""
    if isinstance(key, tuple):
        return int(key[0]) * N_B + int(key[1]) if len(key) == 2 else int(key[0])
    return int(key)


def accuracy_at_threshold(y_true, y_score):
    return accuracy_score(y_true, y_score >= THRESHOLD)


def binary_log_loss(y_true, y_score):
    return log_loss(y_true, y_score, labels=[0, 1])


def safe_auc(y_true, y_score):
    return roc_auc_score(y_true, y_score) if 0 < y_true.sum() < len(y_true) else float("nan")


def pandas_sklearn(df):
    out = {}
    for name, cols in SLICINGS:
        rows = {}
        for key, g in df.groupby(cols, sort=True):
            y = g["y"].to_numpy()
            s = g["s"].to_numpy()
            rows[code(key)] = (len(y), accuracy_at_threshold(y, s), safe_auc(y, s), binary_log_loss(y, s))
        out[name] = rows
    return out


def fairlearn_metricframe(df):
    metrics = {
        "count": count,
        "accuracy": accuracy_at_threshold,
        "roc_auc": roc_auc_score,
        "log_loss": binary_log_loss,
    }
    y = df["y"].to_numpy()
    s = df["s"].to_numpy()
    out = {}
    for name, cols in SLICINGS:
        frame = MetricFrame(metrics=metrics, y_true=y, y_pred=s, sensitive_features=df[cols])
        by_group = frame.by_group
        out[name] = {code(k): tuple(r[m] for m in METRICS) for k, r in by_group.iterrows()}
    return out


def polars_expressions(df):
    y = pl.col("y")
    s = pl.col("s")
    n1 = y.sum().cast(pl.Float64)
    n0 = pl.len().cast(pl.Float64) - n1
    eps = float(np.finfo(np.float64).eps)
    q = pl.when(y == 1).then(s).otherwise(1.0 - s).clip(eps, 1.0 - eps)
    aggs = [
        pl.len().alias("count"),
        ((s >= THRESHOLD).cast(pl.Int64) == y).mean().alias("accuracy"),
        ((s.rank("average").filter(y == 1).sum() - n1 * (n1 + 1.0) / 2.0) / (n1 * n0)).alias("roc_auc"),
        (-q.log().mean()).alias("log_loss"),
    ]
    out = {}
    for name, cols in SLICINGS:
        res = df.group_by(cols).agg(aggs)
        keys = zip(*(res[c].to_list() for c in cols))
        vals = zip(*(res[m].to_list() for m in METRICS))
        out[name] = {code(tuple(k)): tuple(v) for k, v in zip(keys, vals)}
    return out


def load(path, rows):
    labels = np.load(os.path.join(path, "labels.npy"))[:rows].astype(np.int64)
    scores = np.load(os.path.join(path, "scores.npy"))[:rows]
    cols = {c: np.load(os.path.join(path, f"{c}.npy"))[:rows].astype(np.int64) for c in "abc"}
    pdf = pd.DataFrame({"y": labels, "s": scores, **cols}) if pd is not None else None
    plf = pl.DataFrame({"y": labels, "s": scores, **cols})
    return pdf, plf


def read_kiln(path):
    out = {}
    with open(path) as f:
        next(f)
        for line in f:
            name, group, cnt, *vals = line.strip().split(",")
            out.setdefault(name, {})[int(group)] = (int(cnt), *(float(v) if v else float("nan") for v in vals))
    return out


def max_diffs(kiln, peer):
    diffs = dict.fromkeys(METRICS, 0.0)
    for name, groups in kiln.items():
        for g, kv in groups.items():
            if kv[0] == 0:
                continue
            pv = peer[name].get(g)
            if pv is None:
                diffs = dict.fromkeys(METRICS, math.inf)
                continue
            for m, a, b in zip(METRICS, kv, pv):
                a, b = float(a), float(b)
                d = 0.0 if (math.isnan(a) and math.isnan(b)) else abs(a - b)
                diffs[m] = max(diffs[m], d if not math.isnan(d) else math.inf)
    return diffs


def timed(f, *args):
    start = time.perf_counter()
    out = f(*args)
    return time.perf_counter() - start, out


def main():
    path = sys.argv[1]
    with open(os.path.join(path, "kiln_time.json")) as f:
        kiln_time = json.load(f)
    rows, prefix = kiln_time["rows"], kiln_time["prefix_rows"]
    kiln_full = read_kiln(os.path.join(path, "kiln_full.csv"))
    kiln_prefix = read_kiln(os.path.join(path, "kiln_prefix.csv"))
    print(f"load: {os.getloadavg()[0]:.2f} (1 min average) before the peers; polars threads: {pl.thread_pool_size()}")
    small = load(path, prefix)
    full = load(path, rows) if rows > prefix else small
    peers = [
        ("pandas groupby + scikit-learn", pandas_sklearn, 0, 1),
        ("fairlearn MetricFrame", fairlearn_metricframe, 0, 1),
        ("polars expressions", polars_expressions, 1, 3),
    ]
    wanted = [w.strip() for w in os.environ.get("KILN_PEERS", "").split(",") if w.strip()]
    if wanted:
        peers = [p for p in peers if any(p[0].startswith(w) for w in wanted)]
    if MISSING is not None and any(frame == 0 for _, _, frame, _ in peers):
        print(f"missing Python package {MISSING!r}: pip install -r benches/peers/requirements.txt "
              "(or KILN_PEERS=polars)", file=sys.stderr)
        sys.exit(2)
    results = []
    failed = False
    for label, f, frame, reps in peers:
        t_small, out_small = timed(f, small[frame])
        estimate = t_small * rows / prefix
        if estimate > BUDGET_S and rows > prefix:
            out = out_small
            seconds, note, kiln_ref = estimate, f"extrapolated from {prefix:,} rows", kiln_prefix
        else:
            times = []
            for _ in range(reps):
                t, out = timed(f, full[frame])
                times.append(t)
            seconds, note, kiln_ref = min(times), (f"best of {reps}" if reps > 1 else "one run"), kiln_full
        diffs = max_diffs(kiln_ref, out)
        failed |= any(d > TOLERANCE for d in diffs.values())
        results.append((label, seconds, note, diffs))
        print(f"{label}: {seconds:.3f} s ({note}); max |diff| vs kiln: "
              + ", ".join(f"{m} {d:.1e}" for m, d in diffs.items()), flush=True)
    kiln_s = kiln_time["best_s"]
    print()
    print(f"{rows:,} rows, slicings a (2), b (8), c (50), a x b (16); count, accuracy, ROC AUC, log loss")
    print("| tool | seconds | kiln speed-up | note | max abs diff vs kiln |")
    print("| --- | ---: | ---: | --- | ---: |")
    print(f"| kiln scan | {kiln_s:.3f} | 1.0x | best of {kiln_time['reps']}, median {kiln_time['median_s']:.3f} s | - |")
    for label, seconds, note, diffs in results:
        print(f"| {label} | {seconds:.3f} | {seconds / kiln_s:.1f}x | {note} | {max(diffs.values()):.1e} |")
    fastest = min(results, key=lambda r: r[1])
    print(f"\nkiln vs the fastest peer ({fastest[0]}): {fastest[1] / kiln_s:.1f}x (target >= 10x)")
    if failed:
        print(f"numbers differ by more than {TOLERANCE:g}", file=sys.stderr)
        sys.exit(1)
    print(f"all numbers agree within {TOLERANCE:g}")


if __name__ == "__main__":
    main()
