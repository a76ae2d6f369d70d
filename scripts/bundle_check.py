#!/usr/bin/env python3
"""Open a kiln bundle outside kiln and, for linear and MLP models, reproduce kiln's predictions.

A kiln bundle is one .safetensors file: tensors plus, under the metadata key
`kiln.manifest`, a JSON manifest. This script needs only numpy and safetensors.

    python3 scripts/bundle_check.py BUNDLE
        prints the manifest's format version, task and architecture, and every tensor.

    python3 scripts/bundle_check.py BUNDLE --features F.csv --predictions P.csv [--tolerance 1e-5]
        for a `linear` architecture: reads already-encoded features (columns f0..fN-1 of
        F.csv, other columns ignored), computes x @ linear.weight.T + linear.bias, then a
        sigmoid (binary, one output), a softmax (binary with two outputs, multiclass) or
        nothing (regression), and compares with P.csv, which holds one column per model
        output in order (binary with one output: the positive class's probability), or the
        columns named by --columns. Exit 0 when every value agrees within the tolerance
        (absolute), 1 on a mismatch, 2 on a usage or input error.

    python3 scripts/bundle_check.py BUNDLE --data RAW.csv --predictions P.csv [--columns p_>50K]
        for `linear` and `mlp` architectures: encodes raw rows (a CSV with column names) with
        the bundle's own preprocessor (imputation, standardisation, missing indicators,
        one-hot with the `__other__` bucket), runs the network (dense, layer norm, activation,
        residual; linear head) in float64, and compares as above.
"""

import argparse
import csv
import json
import sys

import numpy as np
from safetensors import safe_open

MANIFEST_KEY = "kiln.manifest"
FORMAT_VERSION = "kiln.bundle.v1"


def fail(message, code=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def read_bundle(path):
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}
        if MANIFEST_KEY not in metadata:
            fail(f"{path} has no `{MANIFEST_KEY}` metadata: not a kiln bundle")
        manifest = json.loads(metadata[MANIFEST_KEY])
        tensors = {name: f.get_tensor(name) for name in sorted(f.keys())}
    if manifest.get("format_version") != FORMAT_VERSION:
        fail(f"{path} has format version {manifest.get('format_version')!r}, this script reads {FORMAT_VERSION!r}")
    return manifest, tensors


def read_csv(path, columns):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            fail(f"{path} is empty")
        missing = [c for c in columns if c not in header]
        if missing:
            fail(f"{path} has no column(s) {', '.join(missing)}")
        index = [header.index(c) for c in columns]
        rows = [[float(row[i]) for i in index] for row in reader if row]
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))


def csv_header(path):
    with open(path, newline="") as f:
        return next(csv.reader(f), None) or []


def encode_raw(manifest, path):
    """Apply the bundle's preprocessor to raw rows (a CSV with a header), as kiln does:
    numeric columns imputed and standardised, missing indicators, then one-hot blocks whose
    slot 0 is `__other__` (rare, unseen, and missing when missing was not seen in training)."""
    pre = manifest["preprocessor"]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    n = len(rows)
    blocks = []

    def number(text):
        try:
            value = float(text)
        except (TypeError, ValueError):
            return None
        return value if np.isfinite(value) else None

    for state in pre["numeric"]:
        values = [number(r.get(state["name"])) for r in rows]
        x = np.array([state["fill"] if v is None else v for v in values], dtype=np.float64)
        blocks.append(((x - state["center"]) / state["scale"]).astype(np.float32).reshape(n, 1))
    for state in pre["numeric"]:
        if state["indicator"]:
            missing = [number(r.get(state["name"])) is None for r in rows]
            blocks.append(np.array(missing, dtype=np.float32).reshape(n, 1))
    if pre["config"]["encoding"] == "one_hot":
        for state in pre["categorical"]:
            vocabulary = state["vocabulary"]
            index = {v: i for i, v in enumerate(vocabulary) if i > 0}
            missing_code = index.get("__missing__", 0) if state["missing_seen"] else 0
            one_hot = np.zeros((n, len(vocabulary)), dtype=np.float32)
            for row, r in enumerate(rows):
                value = r.get(state["name"])
                code = missing_code if value in (None, "") else index.get(value, 0)
                one_hot[row, code] = 1.0
            blocks.append(one_hot)
    return np.concatenate(blocks, axis=1).astype(np.float64) if blocks else np.zeros((n, 0))


def activate(name, z):
    if name == "relu":
        return np.maximum(z, 0.0)
    if name in ("gelu", "gelu_tanh"):
        return 0.5 * z * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (z + 0.044715 * z ** 3)))
    if name == "silu":
        return z / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    fail(f"unknown activation {name!r}")


def mlp_outputs(manifest, tensors, x):
    """dense -> (layer norm) -> activation (+ the layer's input when residual and the widths
    match), for every hidden layer; then the linear head."""
    arch = manifest["architecture"]
    h = x
    for i, _ in enumerate(arch["hidden"]):
        w = tensors[f"mlp.layers.{i}.weight"].astype(np.float64)
        b = tensors[f"mlp.layers.{i}.bias"].astype(np.float64)
        z = h @ w.T + b
        if arch.get("norm") == "layer_norm":
            mean = z.mean(axis=1, keepdims=True)
            var = ((z - mean) ** 2).mean(axis=1, keepdims=True)
            z = (z - mean) / np.sqrt(var + 1e-5)
            z = z * tensors[f"mlp.norms.{i}.weight"].astype(np.float64) + tensors[f"mlp.norms.{i}.bias"].astype(np.float64)
        a = activate(arch["activation"], z)
        h = a + h if arch.get("residual") and w.shape[0] == w.shape[1] else a
    last = len(arch["hidden"])
    w = tensors[f"mlp.layers.{last}.weight"].astype(np.float64)
    b = tensors[f"mlp.layers.{last}.bias"].astype(np.float64)
    return h @ w.T + b


def to_predictions(task, logits):
    if task == "regression":
        return logits
    if task == "binary" and logits.shape[1] == 1:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def linear_predictions(manifest, tensors, x):
    arch = manifest["architecture"]
    weight = tensors["linear.weight"].astype(np.float64)
    bias = tensors["linear.bias"].astype(np.float64)
    if weight.shape != (arch["n_outputs"], arch["n_inputs"]) or bias.shape != (arch["n_outputs"],):
        fail(f"linear tensors have shapes {weight.shape} and {bias.shape}, the manifest says "
             f"[{arch['n_outputs']}, {arch['n_inputs']}] and [{arch['n_outputs']}]")
    return to_predictions(manifest["task"], x @ weight.T + bias)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--features", help="CSV of encoded features f0..fN-1")
    parser.add_argument("--data", help="CSV of raw rows (header: column names); encoded with the bundle's preprocessor")
    parser.add_argument("--predictions", help="CSV of kiln's predictions, one column per output")
    parser.add_argument("--columns", help="comma-separated prediction columns (default: all)")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()

    manifest, tensors = read_bundle(args.bundle)
    arch = manifest["architecture"]
    print(f"format: {manifest['format_version']}  task: {manifest['task']}  kiln: {manifest.get('kiln_version')}")
    print(f"architecture: {json.dumps(arch, sort_keys=True)}")
    for name, value in tensors.items():
        print(f"tensor {name} {value.dtype} {list(value.shape)}")

    if args.features is None and args.data is None and args.predictions is None:
        return 0
    if (args.features is None and args.data is None) or args.predictions is None:
        fail("--predictions goes with --features (encoded) or --data (raw rows)")
    if arch["kind"] not in ("linear", "mlp"):
        fail(f"predictions are reproduced for linear and mlp models, this bundle is {arch['kind']!r}")

    if args.data is not None:
        x = encode_raw(manifest, args.data)
    else:
        x = read_csv(args.features, [f"f{i}" for i in range(arch["n_inputs"])])
    if x.shape[1] != arch["n_inputs"]:
        fail(f"the encoded rows have {x.shape[1]} features, the model takes {arch['n_inputs']}")
    columns = args.columns.split(",") if args.columns else csv_header(args.predictions)
    expected = read_csv(args.predictions, columns)
    if arch["kind"] == "linear":
        got = linear_predictions(manifest, tensors, x)
    else:
        got = to_predictions(manifest["task"], mlp_outputs(manifest, tensors, x))
    if got.shape != expected.shape:
        fail(f"computed predictions have shape {list(got.shape)}, {args.predictions} has {list(expected.shape)}", 1)
    diff = np.abs(got - expected)
    worst = float(diff.max()) if diff.size else 0.0
    bad = np.argwhere(~(diff <= args.tolerance))
    for row, col in bad[:10]:
        print(f"mismatch: row {row} column {columns[col]}: python {got[row, col]!r}, kiln {expected[row, col]!r}")
    if len(bad):
        print(f"FAIL: {len(bad)} value(s) differ by more than {args.tolerance} (max {worst:.3g})")
        return 1
    print(f"ok: {got.shape[0]} rows x {got.shape[1]} outputs agree within {args.tolerance} (max {worst:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
