#!/usr/bin/env python3
"""MLServer, the peer of kiln-serve (benches/serve_vs_mlserver.sh), and the bench's bookkeeping.

    serve_vs_mlserver.py kiln-configs --config configs/adult.toml --out DIR
        DIR/adult-gbdt.toml and DIR/adult-mlp.toml: the config with only the baselines and one
        model each (so that `kiln train` exports that model), data paths made absolute.

    serve_vs_mlserver.py same-split --split SPLIT_DIR --run RUN.json [--run RUN.json ...]
        Insist that each run (`kiln runs show --format json`) trained on the split of
        SPLIT_DIR/split.json (the same split hash).

    serve_vs_mlserver.py prepare --config configs/adult.toml --split SPLIT_DIR --out OUT_DIR
        Train on kiln's train split (`kiln data split`, kiln.split.v1) the two models MLServer
        serves. LightGBM with kiln's GBDT defaults (100 rounds, learning rate 0.1, 31 leaves,
        20 rows per leaf) on the features kiln's trees see: numeric columns standardized,
        each categorical column one integer code (as kiln's default `categorical = "codes"`);
        MLServer's LightGBM runtime takes one numeric tensor, so its clients send these
        encoded features (the encoding is done here, not timed). Trained so, LightGBM's trees
        are kiln's: their probabilities agree to the bit on Adult. And a scikit-learn pipeline
        with kiln's MLP shape, fed the raw columns: mean imputation + standard scaling of the
        numeric columns, one-hot categorical columns with categories under 10 rows folded,
        MLPClassifier 256 -> 256 ReLU, Adam lr 1e-3, L2 1e-4, batch 512, 10 epochs (no
        dropout, which scikit-learn lacks). Writes the MLServer model repository
        (OUT/models), the request bodies of both servers (OUT/bodies: one row and 1,024 rows
        of the test split, rows without missing values whose categories kiln keeps and whose
        numbers lie in the training range) and the Python models' own probabilities for those
        rows (OUT/expected.json).

    serve_vs_mlserver.py check --server NAME --model MODEL --url URL --out-dir OUT_DIR
        POST both bodies, insist on 200 and finite probabilities in [0, 1], one per row; for
        MLServer, that they equal the Python model's own; print how far the server's are from
        the Python model's (kiln-serve's GBDT against LightGBM trained here, for instance).

    serve_vs_mlserver.py table --results RESULTS.jsonl --checks CHECKS.jsonl --json OUT.json [--meta K=V ...]
        One table per model from the wrk summaries (benches/peers/wrk_post.lua): requests/s,
        rows/s, p50 and p99 latency of kiln-serve and MLServer side by side, with the ratios.
"""

import argparse
import json
import math
import os
import re
import sys
import tomllib
import urllib.error
import urllib.request

MODELS = ("gbdt", "mlp")
# MLServer twice: with its default inference pool (one worker process) and with inference in
# the HTTP process (`parallel_workers = 0`), faster for small models on few cores.
SERVERS = ("kiln-serve", "mlserver", "mlserver-inline")
PEERS = {"mlserver": "MLServer (1 worker)", "mlserver-inline": "MLServer (inline)"}
BATCH_ROWS = 1024
MIN_FREQUENCY = 10  # configs/adult.toml [preprocess] min_frequency
MISSING = "__missing__"  # kiln's category for missing values seen in training
SEED = 42


def columns(config_path):
    with open(config_path, "rb") as f:
        config = tomllib.load(f)
    cols = config["columns"]
    types = cols.get("types", {})
    numeric = list(cols["numeric"])
    categorical = list(cols["categorical"])
    return numeric, categorical, types, cols["target"], cols["positive"]


def fit_encoding(train, numeric, categorical):
    """What kiln's preprocessor gives its trees: each numeric column standardized by the
    training mean and (population) standard deviation, each categorical column as one code:
    the values seen at least MIN_FREQUENCY times in training, missing values counted as one
    more value (`__missing__`), ranked most frequent first (ties by name) from 1; everything
    else 0 (`__other__`)."""
    codes = {}
    for col in categorical:
        counts = train[col].value_counts(dropna=True)
        ranked = [(int(n), str(v)) for v, n in counts.items()]
        n_missing = int(train[col].isna().sum())
        if n_missing:
            ranked.append((n_missing, MISSING))
        kept = sorted((t for t in ranked if t[0] >= MIN_FREQUENCY), key=lambda t: (-t[0], t[1]))
        codes[col] = {v: i + 1 for i, (_, v) in enumerate(kept)}
    scale = {c: (float(train[c].mean()), float(train[c].std(ddof=0))) for c in numeric}
    return {"numeric": numeric, "categorical": categorical, "codes": codes, "scale": scale}


def encode(df, encoding):
    import numpy as np

    parts = []
    for c in encoding["numeric"]:
        mean, std = encoding["scale"][c]
        parts.append((df[c].astype("float64").to_numpy() - mean) / std)
    for c in encoding["categorical"]:
        values = df[c].astype(object).where(df[c].notna(), MISSING)
        parts.append(values.map(lambda v, m=encoding["codes"][c]: m.get(v, 0)).astype("float64").to_numpy())
    return np.column_stack(parts)


def ordinary_rows(test, train, encoding):
    """Test rows without missing values whose categories kiln's preprocessor keeps and whose
    numbers lie in the training range: rows kiln-serve does not count as unusual (its breaker
    opens when most requests hold an unusual row)."""
    keep = test[encoding["numeric"] + encoding["categorical"]].notna().all(axis=1)
    for c in encoding["numeric"]:
        keep &= test[c].between(train[c].min(), train[c].max())
    for c, codes in encoding["codes"].items():
        keep &= test[c].isin(list(codes))
    return test[keep].reset_index(drop=True)


def train_lightgbm(x, y):
    import lightgbm as lgb

    params = {"objective": "binary", "learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20,
              "seed": SEED, "deterministic": True, "force_col_wise": True, "verbosity": -1}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=100)


def mlp_pipeline(numeric, categorical):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler())])
    categories = Pipeline([
        ("impute", SimpleImputer(strategy="constant", fill_value=MISSING)),
        ("one_hot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_FREQUENCY,
                                  sparse_output=False)),
    ])
    features = ColumnTransformer([("numeric", numbers, numeric), ("categorical", categories, categorical)])
    mlp = MLPClassifier(hidden_layer_sizes=(256, 256), activation="relu", solver="adam", alpha=1e-4,
                        batch_size=512, learning_rate_init=1e-3, max_iter=10, random_state=SEED)
    return Pipeline([("features", features), ("mlp", mlp)])


def as_object(df, categorical):
    """Categorical columns as plain Python objects (None for missing), as MLServer decodes BYTES."""
    df = df.copy()
    for c in categorical:
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    return df


def kiln_body(rows, numeric, categorical, types):
    """Open Inference Protocol request for kiln-serve: one named input per raw column."""
    inputs = []
    for c in numeric:
        integer = types.get(c) == "int"
        data = [int(v) if integer else float(v) for v in rows[c]]
        inputs.append({"name": c, "shape": [len(rows)], "datatype": "INT64" if integer else "FP64", "data": data})
    for c in categorical:
        inputs.append({"name": c, "shape": [len(rows)], "datatype": "BYTES", "data": [str(v) for v in rows[c]]})
    return {"inputs": inputs}


def mlserver_mlp_body(rows, numeric, categorical, types):
    """The same named columns for MLServer's scikit-learn runtime, decoded as a DataFrame."""
    body = kiln_body(rows, numeric, categorical, types)
    for i in body["inputs"]:
        if i["datatype"] == "BYTES":
            i["parameters"] = {"content_type": "str"}
    body["parameters"] = {"content_type": "pd"}
    body["outputs"] = [{"name": "predict_proba"}]
    return body


def mlserver_gbdt_body(x):
    """MLServer's LightGBM runtime: one FP64 tensor, the standardized numeric columns then the
    category codes."""
    return {"inputs": [{"name": "features", "shape": list(x.shape), "datatype": "FP64",
                        "data": [float(v) for v in x.reshape(-1)]}]}


def model_settings(name, implementation, uri):
    return {"name": name, "implementation": implementation, "parameters": {"uri": uri, "version": "v1"}}


def write_text(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path, value, indent=None):
    write_text(path, json.dumps(value, indent=indent))


def kiln_configs(args):
    """Cut the config's [[models]] down to the baselines plus one model per file."""
    with open(args.config) as f:
        text = f.read()
    base = os.path.dirname(os.path.abspath(args.config))
    # Absolute data paths: the derived files live elsewhere.
    text = re.sub(r'"(\.\.?/[^"]+)"', lambda m: '"' + os.path.normpath(os.path.join(base, m.group(1))) + '"', text)
    sections = re.split(r"(?m)^(?=\[)", text)
    project = re.search(r'(?m)^name\s*=\s*"([^"]+)"', text).group(1)
    os.makedirs(args.out, exist_ok=True)
    for model in MODELS:
        kept, kind = [], None
        for section in sections:
            header = section.split("\n", 1)[0].strip()
            if header == "[[models]]":
                kind = re.search(r'(?m)^kind\s*=\s*"([^"]+)"', section).group(1)
            elif not header.startswith("[[models.") and not header.startswith("[models."):
                kind = None
            if kind is None or kind in ("prior", "rules", model):
                kept.append(section)
        derived = re.sub(r'(?m)^name\s*=\s*"' + re.escape(project) + '"', f'name = "{project}-{model}"', "".join(kept), 1)
        if f'kind = "{model}"' not in derived:
            sys.exit(f"{args.config} has no [[models]] of kind {model}")
        write_text(os.path.join(args.out, f"{project}-{model}.toml"), derived)


def same_split(args):
    with open(os.path.join(args.split, "split.json")) as f:
        split = json.load(f)
    for path in args.run:
        with open(path) as f:
            run = json.load(f)
        if run["data"]["split_hash"] != split["split_hash"]:
            sys.exit(f"run {run.get('id', path)} trained on split {run['data']['split_hash']}, "
                     f"not on {split['split_hash']} of {args.split}/split.json")
    parts = ", ".join(f"{f['part']} {f['n_rows']}" for f in split["files"])
    print(f"kiln's runs and the MLServer models share split {split['split_hash'][:12]} ({parts} rows)")


def prepare(args):
    import joblib
    import numpy as np
    import pandas as pd

    numeric, categorical, types, target, positive = columns(args.config)
    train = pd.read_parquet(os.path.join(args.split, "train.parquet"))
    test = pd.read_parquet(os.path.join(args.split, "test.parquet"))
    y = (train[target] == positive).astype("int32").to_numpy()
    features = numeric + categorical
    encoding = fit_encoding(train, numeric, categorical)
    ordinary = ordinary_rows(test, train, encoding)
    if len(ordinary) < BATCH_ROWS:
        sys.exit(f"the test split has {len(ordinary)} ordinary rows, fewer than {BATCH_ROWS}")
    batch = ordinary.iloc[:BATCH_ROWS]

    booster = train_lightgbm(encode(train, encoding), y)
    pipeline = mlp_pipeline(numeric, categorical)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 10 epochs, as kiln's MLP
        pipeline.fit(as_object(train[features], categorical), y)

    models = os.path.join(args.out, "models")
    bodies = os.path.join(args.out, "bodies")
    for d in (os.path.join(models, "adult-gbdt"), os.path.join(models, "adult-mlp"), bodies):
        os.makedirs(d, exist_ok=True)
    booster.save_model(os.path.join(models, "adult-gbdt", "model.txt"))
    joblib.dump(pipeline, os.path.join(models, "adult-mlp", "model.joblib"))
    write_json(os.path.join(models, "adult-gbdt", "model-settings.json"),
               model_settings("adult-gbdt", "mlserver_lightgbm.LightGBMModel", "./model.txt"))
    write_json(os.path.join(models, "adult-mlp", "model-settings.json"),
               model_settings("adult-mlp", "mlserver_sklearn.SKLearnModel", "./model.joblib"))

    x_batch = encode(batch, encoding)
    expected = {
        "gbdt": [float(p) for p in booster.predict(x_batch)],
        "mlp": [float(p) for p in pipeline.predict_proba(as_object(batch[features], categorical))[:, 1]],
    }
    write_json(os.path.join(args.out, "expected.json"), expected)
    for n in (1, BATCH_ROWS):
        rows = batch.iloc[:n]
        for model in MODELS:
            write_json(os.path.join(bodies, f"kiln-serve-{model}-{n}.json"), kiln_body(rows, numeric, categorical, types))
        write_json(os.path.join(bodies, f"mlserver-gbdt-{n}.json"), mlserver_gbdt_body(x_batch[:n]))
        write_json(os.path.join(bodies, f"mlserver-mlp-{n}.json"), mlserver_mlp_body(rows, numeric, categorical, types))
    auc = test_auc(test, target, positive, encoding, booster, pipeline)
    print(f"MLServer models trained on {len(train)} rows of {args.split}/train.parquet; "
          f"test ROC AUC: LightGBM {auc['gbdt']:.4f}, scikit-learn MLP {auc['mlp']:.4f}")


def test_auc(test, target, positive, encoding, booster, pipeline):
    from sklearn.metrics import roc_auc_score

    y = (test[target] == positive).astype("int32").to_numpy()
    features = encoding["numeric"] + encoding["categorical"]
    return {
        "gbdt": roc_auc_score(y, booster.predict(encode(test, encoding))),
        "mlp": roc_auc_score(y, pipeline.predict_proba(as_object(test[features], encoding["categorical"]))[:, 1]),
    }


def positive_probabilities(response, n_rows):
    """P(positive) per row from an Open Inference Protocol response: the output named like a
    probability (else the first floating-point one); a [n, 2] output gives its second column."""
    outputs = [o for o in response.get("outputs", []) if o.get("datatype", "").startswith("FP")]
    if not outputs:
        raise ValueError(f"no floating-point output in {json.dumps(response)[:300]}")
    named = [o for o in outputs if "prob" in o["name"].lower() or o["name"] == "predict"]
    out = (named or outputs)[0]
    data, shape = out["data"], out["shape"]
    if len(shape) == 2 and shape[1] == 2:
        data = data[1::2]
    elif len(shape) == 2 and shape[1] != 1:
        raise ValueError(f"output {out['name']} has shape {shape}, expected [{n_rows}], [{n_rows}, 1] or [{n_rows}, 2]")
    if len(data) != n_rows:
        raise ValueError(f"output {out['name']} has {len(data)} values for {n_rows} rows")
    return [float(v) for v in data]


def body_name(server, model, n_rows):
    """The request body file of `server` (both MLServer configurations take the same)."""
    return f"{'mlserver' if server in PEERS else server}-{model}-{n_rows}.json"


def post(url, path):
    with open(path, "rb") as f:
        body = f.read()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def check(args):
    with open(os.path.join(args.out_dir, "expected.json")) as f:
        expected = json.load(f)[args.model]
    result = {"server": args.server, "model": args.model}
    for n in (1, BATCH_ROWS):
        status, response = post(args.url, os.path.join(args.out_dir, "bodies", body_name(args.server, args.model, n)))
        if status != 200:
            sys.exit(f"{args.server} {args.model}: {n}-row request answered {status}: {str(response)[:500]}")
        p = positive_probabilities(response, n)
        bad = [v for v in p if not (math.isfinite(v) and 0.0 <= v <= 1.0)]
        if bad:
            sys.exit(f"{args.server} {args.model}: probabilities outside [0, 1]: {bad[:5]}")
        if n == BATCH_ROWS:
            diffs = [abs(a - b) for a, b in zip(p, expected)]
            agree = sum((a >= 0.5) == (b >= 0.5) for a, b in zip(p, expected)) / n
            result.update(max_abs_diff=max(diffs), mean_abs_diff=sum(diffs) / n, label_agreement=agree,
                          mean_probability=sum(p) / n)
    if args.server in PEERS and result["max_abs_diff"] > 1e-9:
        sys.exit(f"{args.server} {args.model}: its probabilities differ from the Python model's by "
                 f"{result['max_abs_diff']:.3g} (the request is not decoded as the model was trained)")
    print(f"{args.server} {args.model}: 200, {BATCH_ROWS} probabilities in [0, 1] (mean {result['mean_probability']:.4f}); "
          f"against the Python {'LightGBM' if args.model == 'gbdt' else 'scikit-learn MLP'} trained here: "
          f"max |diff| {result['max_abs_diff']:.3g}, mean {result['mean_abs_diff']:.3g}, "
          f"labels agree on {100 * result['label_agreement']:.1f}% of rows")
    with open(args.checks, "a") as f:
        f.write(json.dumps(result) + "\n")


def summarize(case):
    """requests/s, rows/s, p50/p99 in ms and the error count from a case's wrk summary."""
    w = case["wrk"]
    per_s = w["requests"] / w["seconds"] if w["seconds"] else 0.0
    errors = sum(w[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx"))
    return {**case, "requests_per_s": per_s, "rows_per_s": per_s * case["rows"], "p50_ms": w["p50_us"] / 1e3,
            "p99_ms": w["p99_us"] / 1e3, "errors": errors}


def table(args):
    with open(args.results) as f:
        cases = [summarize(json.loads(line)) for line in f if line.strip()]
    checks = []
    if args.checks and os.path.exists(args.checks):
        with open(args.checks) as f:
            checks = [json.loads(line) for line in f if line.strip()]
    meta = dict(kv.split("=", 1) for kv in args.meta)
    by_key = {(c["server"], c["model"], c["rows"], c["concurrency"]): c for c in cases}
    report = {"meta": meta, "checks": checks, "cases": cases, "comparisons": []}
    print("\nOpen Inference Protocol on loopback. kiln-serve and MLServer's scikit-learn runtime get the raw columns "
          "(one named input each); MLServer's LightGBM runtime gets the features already encoded (standardized "
          "numbers, category codes) as one FP64 tensor, as that runtime requires.")
    for model in MODELS:
        keys = sorted({(c["rows"], c["concurrency"]) for c in cases if c["model"] == model})
        if not keys:
            continue
        print(f"\n### adult-{model}\n")
        print("| rows/request | concurrency | server | requests/s | rows/s | p50 ms | p99 ms | errors |")
        print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
        for rows, conc in keys:
            for server in SERVERS:
                c = by_key.get((server, model, rows, conc))
                if c:
                    print(f"| {rows:,} | {conc} | {server} | {c['requests_per_s']:,.0f} | {c['rows_per_s']:,.0f} "
                          f"| {c['p50_ms']:.3f} | {c['p99_ms']:.3f} | {c['errors']} |")
        pairs = [(rows, conc, peer, by_key.get(("kiln-serve", model, rows, conc)), by_key.get((peer, model, rows, conc)))
                 for rows, conc in keys for peer in PEERS]
        pairs = [p for p in pairs if p[3] and p[4]]
        if pairs:
            print("\n| rows/request | concurrency | against | throughput kiln-serve / MLServer | p99 MLServer / kiln-serve |")
            print("| ---: | ---: | --- | ---: | ---: |")
        for rows, conc, peer, k, m in pairs:
            speed = k["requests_per_s"] / m["requests_per_s"] if m["requests_per_s"] else float("nan")
            tail = m["p99_ms"] / k["p99_ms"] if k["p99_ms"] else float("nan")
            report["comparisons"].append({"model": model, "rows": rows, "concurrency": conc, "against": peer,
                                          "throughput_ratio": speed, "p99_ratio": tail})
            print(f"| {rows:,} | {conc} | {PEERS[peer]} | {speed:.2f}x | {tail:.2f}x |")
    failed = [c for c in cases if c["errors"]]
    for c in failed:
        w = c["wrk"]
        print(f"\nwarning: {c['server']} adult-{c['model']} ({c['rows']} rows x {c['concurrency']}): {c['errors']} "
              f"errors ({w['non_2xx']} answers not 2xx, {w['timeouts']} timeouts, "
              f"{w['connect_errors'] + w['read_errors'] + w['write_errors']} socket errors): its numbers do not "
              f"measure scoring")
    write_json(args.json, report, indent=1)
    print(f"\nJSON: {args.json}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("kiln-configs")
    k.add_argument("--config", required=True)
    k.add_argument("--out", required=True)
    s = sub.add_parser("same-split")
    s.add_argument("--split", required=True)
    s.add_argument("--run", required=True, action="append")
    p = sub.add_parser("prepare")
    p.add_argument("--config", required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--server", required=True, choices=SERVERS)
    c.add_argument("--model", required=True, choices=MODELS)
    c.add_argument("--url", required=True)
    c.add_argument("--out-dir", required=True)
    c.add_argument("--checks", required=True)
    t = sub.add_parser("table")
    t.add_argument("--results", required=True)
    t.add_argument("--checks")
    t.add_argument("--json", required=True)
    t.add_argument("--meta", nargs="*", default=[])
    args = parser.parse_args()
    commands = {"kiln-configs": kiln_configs, "same-split": same_split, "prepare": prepare, "check": check,
                "table": table}
    commands[args.command](args)


if __name__ == "__main__":
    main()
