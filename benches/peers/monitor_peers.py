"""Peers of `kiln monitor` (batch drift per feature, for the whole window and per segment value):
Evidently's DataDriftPreset and NannyML's UnivariateDriftCalculator, on the same Parquet files.

Subcommands (benches/monitor_vs_evidently.sh runs them in this order):

  generate --rows N --seed S --out DIR     (config --rows N --seed S --out DIR: the config alone)
      A reference and a current window of N rows each (seeded numpy), written as
      DIR/reference.parquet and DIR/current.parquet, with the kiln config DIR/kiln.toml that names
      the reference as its training data, and DIR/meta.json (features, segments, the shifts).
      20 features: 14 numeric of varied shapes (two with missing values, one with 5 distinct
      values) and 6 categorical with 3 to 50 levels (one with missing values); 3 segment columns
      of 2, 5 and 12 values; a `label` and a `score` column. The current window is shifted in
      three features for every row and in one feature for one segment value only.

  run --tool evidently|nannyml --data DIR --json OUT
      Reads both windows (timed apart), then computes every feature's drift on the whole window
      and on each segment value's rows (reference rows of that value against current rows of
      that value: neither peer has segment-wise drift, so the loop over subsets is what a user
      writes), timing each part, and writes the scores and timings as JSON.

  table --data DIR --peer JSON ... [--kiln-report JSON --kiln-time LOG [--kiln-ks-report JSON]] [--peer-time LOG ...]
      Prints the table of times (whole window, per segment), ratios to kiln and peak memory
      (from `/usr/bin/time -v` logs), and compares kiln's scores with Evidently's for every
      (slice, group, feature) where both use the same statistic (largest absolute difference per
      statistic; the goal is 1e-9), and kiln's Kolmogorov-Smirnov statistics (from a second,
      untimed run with `stattest = "ks"`) with NannyML's.
      Exits 1 when a statistic kiln shares with Evidently differs by more than 1e-9.

File reading is timed apart from the drift computation for the peers: the read turns string
columns into pandas categoricals, which is the peers' fastest input.
"""

import argparse
import json
import math
import os
import sys
import time
import warnings

# No usage reports to the peers' makers during the timings (NannyML posts one per call).
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

try:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError as e:  # pragma: no cover
    print(f"missing Python package {e.name!r}: pip install -r benches/peers/requirements-monitor.txt", file=sys.stderr)
    sys.exit(2)

TOLERANCE = 1e-9

# Numeric features: name -> how to draw n values (rng, n) -> float64 array.
NUMERIC = {
    "n_normal": lambda rng, n: rng.normal(50.0, 10.0, n),
    "n_lognormal": lambda rng, n: rng.lognormal(3.0, 0.8, n),
    "n_exponential": lambda rng, n: rng.exponential(2.0, n),
    "n_uniform": lambda rng, n: rng.uniform(0.0, 100.0, n),
    "n_bimodal": lambda rng, n: np.where(rng.random(n) < 0.3, rng.normal(-2.0, 0.5, n), rng.normal(3.0, 1.0, n)),
    "n_student": lambda rng, n: rng.standard_t(3.0, n),
    "n_beta": lambda rng, n: rng.beta(2.0, 5.0, n),
    "n_poisson": lambda rng, n: rng.poisson(4.0, n).astype(np.float64),
    "n_age": lambda rng, n: rng.integers(18, 91, n).astype(np.float64),
    "n_gamma": lambda rng, n: rng.gamma(2.0, 3.0, n),
    "n_missing": lambda rng, n: rng.normal(0.0, 1.0, n),
    "n_pareto": lambda rng, n: rng.pareto(3.0, n),
    "n_rating": lambda rng, n: rng.integers(1, 6, n).astype(np.float64),
    "n_load": lambda rng, n: rng.normal(100.0, 15.0, n),
}
MISSING_SHARE = {"n_gamma": 0.05, "n_missing": 0.10, "c_8": 0.03}

# Categorical features: name -> level shares (the levels are `name` + index).
CATEGORICAL = {
    "c_3": [0.5, 0.3, 0.2],
    "c_5": [0.35, 0.25, 0.2, 0.12, 0.08],
    "c_8": [1.0 / (k + 1) for k in range(8)],
    "c_12": [1.0] * 12,
    "c_25": [1.0 / (k + 1) ** 1.1 for k in range(25)],
    "c_50": [1.0 + (k % 7) for k in range(50)],
}

# Segment columns: name -> value shares (values `name` letter + index).
SEGMENTS = {
    "seg_a": [0.6, 0.4],
    "seg_b": [0.3, 0.25, 0.2, 0.15, 0.1],
    "seg_c": [0.14, 0.12, 0.11, 0.1, 0.09, 0.08, 0.08, 0.07, 0.07, 0.06, 0.04, 0.04],
}

# What differs in the current window.
SHIFT_DESCRIPTION = [
    "n_normal: mean +2 (0.2 standard deviations), every row",
    "n_lognormal: values x 1.15, every row",
    "c_5: level shares [0.25, 0.25, 0.2, 0.15, 0.15] instead of [0.35, 0.25, 0.2, 0.12, 0.08], every row",
    "n_load: +6 (0.4 standard deviations) for seg_c = c3 only",
]
SEGMENT_SHIFT = ("n_load", "seg_c", 3, 6.0)


def levels(name, count):
    return [f"{name}_{k}" for k in range(count)]


def segment_levels(name, count):
    return [f"{name[-1]}{k}" for k in range(count)]


def shares(weights):
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()


def string_column(codes, names, missing=None):
    """An Arrow string column from codes into names (null where `missing`)."""
    dictionary = pa.array(names, type=pa.string())
    indices = pa.array(codes.astype(np.int32), mask=missing)
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())


def window(rows, seed, shifted):
    """One window as an Arrow table (columns in a fixed order)."""
    rng = np.random.default_rng(seed)
    columns = {}
    segment_codes = {}
    for name, weights in SEGMENTS.items():
        segment_codes[name] = rng.choice(len(weights), size=rows, p=shares(weights))
    numeric = {}
    for name, draw in NUMERIC.items():
        values = draw(rng, rows)
        if shifted and name == "n_normal":
            values = values + 2.0
        if shifted and name == "n_lognormal":
            values = values * 1.15
        if shifted and name == SEGMENT_SHIFT[0]:
            values = values + np.where(segment_codes[SEGMENT_SHIFT[1]] == SEGMENT_SHIFT[2], SEGMENT_SHIFT[3], 0.0)
        numeric[name] = values
    for name, values in numeric.items():
        missing = rng.random(rows) < MISSING_SHARE[name] if name in MISSING_SHARE else None
        columns[name] = pa.array(values, type=pa.float64(), mask=missing)
    categorical_codes = {}
    for name, weights in CATEGORICAL.items():
        if shifted and name == "c_5":
            weights = [0.25, 0.25, 0.2, 0.15, 0.15]
        codes = rng.choice(len(weights), size=rows, p=shares(weights))
        categorical_codes[name] = codes
        missing = rng.random(rows) < MISSING_SHARE[name] if name in MISSING_SHARE else None
        columns[name] = string_column(codes, levels(name, len(weights)), missing)
    for name, codes in segment_codes.items():
        columns[name] = string_column(codes, segment_levels(name, len(SEGMENTS[name])))
    # A model's view of the rows: a logit from a few features; the label drawn from it.
    standard_normal = (numeric["n_normal"] - 50.0) / 10.0
    logit = (
        -1.0
        + 0.8 * standard_normal
        + 0.5 * (numeric["n_bimodal"] > 0)
        - 0.3 * np.log1p(numeric["n_exponential"])
        + 0.4 * (categorical_codes["c_3"] == 0)
        + 0.2 * (segment_codes["seg_a"] == 1)
    )
    probability = 1.0 / (1.0 + np.exp(-logit))
    label = rng.random(rows) < probability
    score = 1.0 / (1.0 + np.exp(-(logit + rng.normal(0.0, 0.5, rows))))
    columns["label"] = string_column(label.astype(np.int64), ["no", "yes"])
    columns["score"] = pa.array(score, type=pa.float64())
    return pa.table(columns)


def config_toml(rows, seed):
    quote = lambda names: ", ".join(f'"{n}"' for n in names)  # noqa: E731
    return f"""# The windows of benches/monitor_vs_evidently.sh: {rows} rows each, seed {seed}
# (benches/peers/monitor_peers.py generate). The reference window is the training data.
[project]
name = "monitor-bench"
task = "binary"
seed = {seed}

[data]
train = "reference.parquet"

[columns]
target = "label"
classes = ["no", "yes"]
positive = "yes"
numeric = [{quote(NUMERIC)}]
categorical = [{quote(CATEGORICAL)}]
segment = [{quote(SEGMENTS)}]
drop = ["score"]                # the model's score: its drift needs a bundle, not this config

[monitoring]
stattest = "auto"               # Evidently's choice by column type and size, as the peers make it
"""


def write_config(args):
    path = os.path.join(args.out, "kiln.toml")
    with open(path + ".tmp", "w") as f:
        f.write(config_toml(args.rows, args.seed))
    os.replace(path + ".tmp", path)


def generate(args):
    os.makedirs(args.out, exist_ok=True)
    for name, seed, shifted in [("reference", args.seed, False), ("current", args.seed + 1, True)]:
        start = time.perf_counter()
        table = window(args.rows, seed, shifted)
        path = os.path.join(args.out, f"{name}.parquet")
        pq.write_table(table, path + ".tmp")
        os.replace(path + ".tmp", path)
        size = os.path.getsize(path) / 2**20
        print(f"{path}: {args.rows} rows, {size:.0f} MiB, {time.perf_counter() - start:.1f} s", file=sys.stderr)
        del table
    write_config(args)
    meta = {
        "rows": args.rows,
        "seed": args.seed,
        "numeric": list(NUMERIC),
        "categorical": list(CATEGORICAL),
        "segments": {name: segment_levels(name, len(w)) for name, w in SEGMENTS.items()},
        "shifts": SHIFT_DESCRIPTION,
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


def read_windows(data):
    """Both windows as pandas frames with categorical string columns, and the seconds it took."""
    start = time.perf_counter()
    frames = [
        pq.read_table(os.path.join(data, f"{name}.parquet")).to_pandas(strings_to_categorical=True)
        for name in ("reference", "current")
    ]
    return frames[0], frames[1], time.perf_counter() - start


def subsets(meta, reference, current):
    """(slice, group, reference rows, current rows) for the whole window, then every segment value."""
    yield "overall", "all", reference, current
    for column, values in meta["segments"].items():
        for value in values:
            yield column, value, reference[reference[column] == value], current[current[column] == value]


EVIDENTLY_TESTS = {
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "PSI": "psi",
}
P_VALUE_TESTS = {"ks", "chisquare", "z"}


def evidently_drift(meta):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    features = meta["numeric"] + meta["categorical"]
    definition = DataDefinition(numerical_columns=meta["numeric"], categorical_columns=meta["categorical"])

    def drift(reference, current):
        report = Report([DataDriftPreset(columns=features)])
        snapshot = report.run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
        )
        out = []
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if not config["type"].endswith("ValueDrift"):
                continue
            test = EVIDENTLY_TESTS.get(config["method"], config["method"])
            score = float(metric["value"])
            threshold = float(config["threshold"])
            drifted = score < threshold if test in P_VALUE_TESTS else score >= threshold
            out.append({"feature": config["column"], "test": test, "score": score, "threshold": threshold, "drifted": drifted})
        return out

    return drift


def evidently_stattests_drift(meta):
    """Evidently's own statistic functions, called directly on each column (its default choice
    per type and size, missing values dropped as its Report does): the Report's result without
    its plots and without computing each column three times, the fastest way to Evidently's numbers."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    kinds = {f: ColumnType.Numerical for f in meta["numeric"]}
    kinds.update({f: ColumnType.Categorical for f in meta["categorical"]})

    def drift(reference, current):
        out = []
        for feature, kind in kinds.items():
            ref = reference[feature].dropna()
            cur = current[feature].dropna()
            stattest = get_stattest(ref, cur, kind, None)
            result = stattest(ref, cur, kind, None)
            test = EVIDENTLY_TESTS.get(stattest.display_name, stattest.display_name)
            score, threshold = float(result.drift_score), float(result.actual_threshold)
            drifted = bool(result.drifted)
            out.append({"feature": feature, "test": test, "score": score, "threshold": threshold, "drifted": drifted})
        return out

    return drift


NANNYML_TESTS = {"kolmogorov_smirnov": "ks", "jensen_shannon": "jensenshannon_nannyml", "chi2": "chi2_contingency"}


def nannyml_drift(meta):
    import nannyml

    features = meta["numeric"] + meta["categorical"]
    continuous = ["kolmogorov_smirnov", "jensen_shannon"]
    categorical = ["chi2", "jensen_shannon"]

    def drift(reference, current):
        calculator = nannyml.UnivariateDriftCalculator(
            column_names=features,
            treat_as_categorical=meta["categorical"],
            continuous_methods=continuous,
            categorical_methods=categorical,
            chunk_number=1,
        )
        calculator.fit(reference)
        frame = calculator.calculate(current).filter(period="analysis").to_df()
        out = []
        for feature in features:
            for method in categorical if feature in meta["categorical"] else continuous:
                row = frame[(feature, method)].iloc[0]
                threshold = row.get("upper_threshold")
                out.append(
                    {
                        "feature": feature,
                        "test": NANNYML_TESTS[method],
                        "score": float(row["value"]),
                        "threshold": None if threshold is None or pd.isna(threshold) else float(threshold),
                        "drifted": bool(row["alert"]),
                    }
                )
        return out

    return drift


TOOLS = {"evidently": evidently_drift, "evidently-stattests": evidently_stattests_drift, "nannyml": nannyml_drift}


def tool_version(tool):
    import importlib.metadata

    return importlib.metadata.version(tool.split("-")[0])


def run(args):
    with open(os.path.join(args.data, "meta.json")) as f:
        meta = json.load(f)
    warnings.filterwarnings("ignore")
    drift = TOOLS[args.tool](meta)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_before = os.getloadavg()[0]
    reference, current, read_s = read_windows(args.data)
    print(f"{args.tool}: read both windows in {read_s:.2f} s", file=sys.stderr)
    scores, seconds = [], {}
    for slice_name, group, ref, cur in subsets(meta, reference, current):
        start = time.perf_counter()
        results = drift(ref, cur)
        elapsed = time.perf_counter() - start
        seconds[slice_name] = seconds.get(slice_name, 0.0) + elapsed
        for r in results:
            scores.append({"slice": slice_name, "group": group, **r})
        print(f"{args.tool}: {slice_name} = {group}: {elapsed:.2f} s", file=sys.stderr)
    segments_s = sum(s for name, s in seconds.items() if name != "overall")
    out = {
        "tool": args.tool,
        "version": tool_version(args.tool),
        "rows": meta["rows"],
        "started": started,
        "load": [load_before, os.getloadavg()[0]],
        "read_s": read_s,
        "whole_s": seconds["overall"],
        "segments_s": segments_s,
        "per_segment_column_s": {name: s for name, s in seconds.items() if name != "overall"},
        "scores": scores,
    }
    with open(args.json + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(args.json + ".tmp", args.json)


def time_log(path):
    """Wall seconds, CPU seconds (user + system), peak resident memory (GiB) and exit status
    from a `/usr/bin/time -v` log."""
    wall = rss = status = None
    cpu = 0.0
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("Maximum resident set size (kbytes):"):
                rss = int(line.split(":")[-1]) / 2**20
            elif line.startswith("Elapsed (wall clock) time"):
                parts = [float(p) for p in line.split(": ", 1)[1].split(":")]
                wall = sum(p * 60**k for k, p in enumerate(reversed(parts)))
            elif line.startswith(("User time (seconds):", "System time (seconds):")):
                cpu += float(line.split(":")[-1])
            elif line.startswith("Exit status:"):
                status = int(line.split(":")[-1])
    return {"wall": wall, "cpu": cpu, "rss": rss, "status": status}


def fmt(x, digits=2):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def with_statistics(report):
    """kiln's flat checks, each with the test statistic its group's feature result holds
    (for the p-value tests the score is the p-value)."""
    statistics = {}
    for window in report.get("windows", []):
        for group in window.get("groups", []):
            for feature in group.get("features", []):
                key = (window["index"], group["slice"], group["group"], feature["feature"], feature["test"])
                statistics[key] = feature.get("statistic")
    return [
        {**c, "statistic": statistics.get((c.get("window", 0), c["slice"], c["group"], c["feature"], c["test"]))}
        for c in report["checks"]
    ]


def kiln_value(check, p_value):
    """kiln's p-value of a check (`p_value`, else a score that is one), or its statistic
    (`statistic` where the score is a p-value, else the score); None where it has none."""
    score = float(check["score"])
    reported = check.get("p_value")
    score_is_p = check["test"] in P_VALUE_TESTS and (reported is None or float(reported) == score)
    if p_value:
        return float(reported) if reported is not None else (score if score_is_p else None)
    if score_is_p:
        return None if check.get("statistic") is None else float(check["statistic"])
    return score


def compare(kiln_checks, peer, tests, p_value_tests):
    """Largest |kiln − peer| per statistic over every (slice, group, feature) the peer scored
    with one of `tests` (its names mapped to kiln's; for the peer's `p_value_tests`, whose score
    is a p-value, kiln's p-value is compared), the peer's scores kiln has no check for, and the drift verdicts that
    differ."""
    kiln = {(c["slice"], str(c["group"]), c["feature"], c["test"]): c for c in kiln_checks}
    kiln_tests = {}
    for c in kiln_checks:
        kiln_tests.setdefault((c["slice"], str(c["group"]), c["feature"]), []).append(c["test"])
    worst, counts, missing, decisions = {}, {}, [], 0
    for score in peer["scores"]:
        test = tests.get(score["test"])
        if test is None:
            continue
        key = (score["slice"], score["group"], score["feature"])
        check = kiln.get(key + (test,))
        if check is None:
            missing.append(f"{'/'.join(key)}: {peer['tool']} {score['test']}, kiln {kiln_tests.get(key, 'nothing')}")
            continue
        is_p = score["test"] in p_value_tests
        value = kiln_value(check, p_value=is_p)
        if value is None:
            missing.append(f"{'/'.join(key)}: kiln's {test} check has no {'p-value' if is_p else 'statistic'}")
            continue
        diff = abs(value - score["score"])
        counts[test] = counts.get(test, 0) + 1
        if diff > worst.get(test, (-1.0, None))[0]:
            worst[test] = (diff, key)
        decisions += bool(check["drifted"]) != bool(score["drifted"])
    return worst, counts, missing, decisions


def table(args):
    with open(os.path.join(args.data, "meta.json")) as f:
        meta = json.load(f)
    peers = []
    for path in args.peer:
        with open(path) as f:
            peers.append(json.load(f))
    logs = dict(zip([p["tool"] for p in peers], args.peer_time or []))
    kiln = None
    kiln_checks = []
    if args.kiln_report:
        kiln = time_log(args.kiln_time)
        with open(args.kiln_report) as f:
            kiln_checks = with_statistics(json.load(f))
    rows = meta["rows"]
    groups = sum(len(v) for v in meta["segments"].values())
    print(f"\n## {rows:,} rows per window: 20 features, whole window + {groups} segment values (3 segment columns)\n")
    print("Seconds are wall-clock; a peer's exclude reading the files and importing Python modules, kiln's")
    print("are its whole process. Process CPU is user + system time of the whole process (`/usr/bin/time`).\n")
    print("| tool | read s | whole window s | per segment s | drift s (whole + segments) | kiln faster by (drift s / kiln s) | process CPU s | kiln faster by (CPU) | peak RSS GiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    if kiln is not None:
        print(f"| kiln monitor (read, whole window and every segment) | incl. | — | — | {fmt(kiln['wall'])} | 1.0x | {fmt(kiln['cpu'])} | 1.0x | {fmt(kiln['rss'])} |")
    for peer in peers:
        drift_s = peer["whole_s"] + peer["segments_s"]
        log = time_log(logs[peer["tool"]]) if peer["tool"] in logs else {"cpu": None, "rss": None}
        ratio = fmt(drift_s / kiln["wall"], 1) + "x" if kiln else "—"
        ratio_cpu = fmt(log["cpu"] / kiln["cpu"], 1) + "x" if kiln and log["cpu"] and kiln["cpu"] else "—"
        name = f"{peer['tool']} {peer['version']}"
        print(f"| {name} | {fmt(peer['read_s'])} | {fmt(peer['whole_s'])} | {fmt(peer['segments_s'])} | {fmt(drift_s)} | {ratio} | {fmt(log['cpu'])} | {ratio_cpu} | {fmt(log['rss'])} |")
    for skipped in args.skipped or []:
        print(f"| {skipped} | | | | | | | | |")
    for peer in peers:
        per = ", ".join(f"{k} {v:.2f} s" for k, v in peer["per_segment_column_s"].items())
        load = " → ".join(f"{x:.1f}" for x in peer.get("load", []))
        print(f"\n{peer['tool']}: started {peer.get('started', '?')}, load {load}; per segment column: {per}")
    if kiln is not None and peers:
        fastest = min(peers, key=lambda p: p["whole_s"] + p["segments_s"])
        speedup = (fastest["whole_s"] + fastest["segments_s"]) / kiln["wall"]
        print(f"\nkiln against the fastest peer ({fastest['tool']}): {speedup:.1f}x on wall seconds, peer's reading excluded (target >= 20x)")
    ks_checks = kiln_checks
    if args.kiln_ks_report:
        with open(args.kiln_ks_report) as f:
            ks_checks = with_statistics(json.load(f))
    failed = False
    if kiln_checks:
        failed = report_agreement(kiln_checks, ks_checks, peers)
    return 1 if failed else 0


def report_agreement(kiln_checks, ks_checks, peers):
    """Prints how kiln's scores agree with Evidently's (to 1e-9) and its Kolmogorov-Smirnov
    statistics (`ks_checks`, from a run with `stattest = "ks"`) with NannyML's; true when one of
    Evidently's statistics disagrees."""
    print(f"\nkiln's report: {len(kiln_checks)} checks")
    failed = False
    for peer in peers:
        exact = peer["tool"].startswith("evidently")
        if exact:
            tests = {t: t for t in EVIDENTLY_TESTS.values()}
        else:
            tests = {"ks": "ks"}
        checks = kiln_checks if exact else ks_checks
        worst, counts, missing, decisions = compare(checks, peer, tests, P_VALUE_TESTS if exact else set())
        for test, (diff, key) in sorted(worst.items()):
            if exact:
                verdict = "ok" if diff <= TOLERANCE else f"DIFFERS by more than {TOLERANCE:g}"
            else:
                verdict = "NannyML estimates KS from 10,000 bins at >= 10,000 reference rows"
            failed |= exact and diff > TOLERANCE
            print(f"kiln vs {peer['tool']} {test}: {counts[test]} scores, max |diff| {diff:.3g} at {'/'.join(key)} ({verdict})")
        if not worst:
            print(f"kiln vs {peer['tool']}: no statistic in common")
        if not exact:
            total = sum(1 for score in peer["scores"] if score["test"] == "ks")
            print(f"kiln has a Kolmogorov-Smirnov check for {counts.get('ks', 0)} of {peer['tool']}'s {total} KS scores")
        elif missing:
            failed = True
            print(f"kiln has no check with {peer['tool']}'s statistic for {len(missing)} of its scores, e.g. {missing[:3]}")
        # NannyML's thresholds come from the spread over reference chunks: with one chunk they
        # are degenerate, so only Evidently's verdicts are compared.
        if exact:
            print(f"kiln and {peer['tool']} disagree on drifted / not drifted for {decisions} checks")
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--rows", type=int, required=True)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--out", required=True)
    c = sub.add_parser("config")
    c.add_argument("--rows", type=int, required=True)
    c.add_argument("--seed", type=int, default=7)
    c.add_argument("--out", required=True)
    r = sub.add_parser("run")
    r.add_argument("--tool", choices=list(TOOLS), required=True)
    r.add_argument("--data", required=True)
    r.add_argument("--json", required=True)
    t = sub.add_parser("table")
    t.add_argument("--data", required=True)
    t.add_argument("--peer", action="append", default=[])
    t.add_argument("--peer-time", action="append")
    t.add_argument("--skipped", action="append", help="a tool that did not run, with the reason")
    t.add_argument("--kiln-report")
    t.add_argument("--kiln-time")
    t.add_argument("--kiln-ks-report", help="kiln's report with stattest = ks, for NannyML's KS")
    args = parser.parse_args()
    if args.command == "generate":
        generate(args)
    elif args.command == "config":
        write_config(args)
    elif args.command == "run":
        run(args)
    else:
        sys.exit(table(args))


if __name__ == "__main__":
    main()
