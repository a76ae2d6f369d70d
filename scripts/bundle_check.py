#!/usr/bin/env python3
"""Open a kiln bundle outside kiln and, for linear, MLP, ResNet and GBDT models, reproduce kiln's predictions.

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
        for `linear`, `mlp` and `resnet` architectures: encodes raw rows (a CSV with column
        names) with the bundle's own preprocessor (imputation, standardisation, missing
        indicators; categorical columns one-hot with the `__other__` bucket, or index codes
        when a ResNet embeds them), runs the network in float64 and compares as above.
        MLP: dense, layer norm or batch norm (running estimates), activation, residual;
        linear head. ResNet: the dense features then each categorical column's embedding,
        a linear layer, residual blocks x + linear2(relu(linear1(layer_norm(x)))), then
        linear(relu(layer_norm(x))).
        GBDT (`kiln.trees.v1`): the index encoding (dense features, then one code per
        categorical column, as float32), then every tree walked as LightGBM does (numeric
        nodes go left when x <= threshold in float64, with their missing-value type;
        categorical nodes test a bitset), leaf values summed per output in tree order, then
        the task's link.
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


def category_codes(state, rows):
    """Each row's index in the column's vocabulary: 0 (`__other__`) for rare and unseen
    categories, and for missing values when missing was not seen in training."""
    index = {v: i for i, v in enumerate(state["vocabulary"]) if i > 0}
    missing_code = index.get("__missing__", 0) if state["missing_seen"] else 0
    codes = []
    for r in rows:
        value = r.get(state["name"])
        codes.append(missing_code if value in (None, "") else index.get(value, 0))
    return np.array(codes, dtype=np.int64)


def encode_raw(manifest, path, index_codes):
    """Apply the bundle's preprocessor to raw rows (a CSV with a header), as kiln does:
    numeric columns imputed and standardised, missing indicators, then the categorical columns
    as one-hot blocks whose slot 0 is `__other__` or, with `index_codes`, as a separate matrix of
    vocabulary indices. Kiln's neural models fix the encoding (one-hot unless a ResNet embeds
    the categorical columns), whatever the manifest's preprocessor config says.
    Returns (dense features, codes or None)."""
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
    codes = [category_codes(state, rows) for state in pre["categorical"]]
    if not index_codes:
        for state, column in zip(pre["categorical"], codes):
            one_hot = np.zeros((n, len(state["vocabulary"])), dtype=np.float32)
            one_hot[np.arange(n), column] = 1.0
            blocks.append(one_hot)
    dense = np.concatenate(blocks, axis=1).astype(np.float64) if blocks else np.zeros((n, 0))
    if not index_codes:
        return dense, None
    return dense, np.stack(codes, axis=1) if codes else np.zeros((n, 0), dtype=np.int64)


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


NORM_EPS = 1e-5  # layer norm and batch norm, as PyTorch's defaults


def tensor(tensors, name):
    if name not in tensors:
        fail(f"the bundle lacks tensor {name!r}")
    return tensors[name].astype(np.float64)


def linear(tensors, prefix, x):
    return x @ tensor(tensors, f"{prefix}.weight").T + tensor(tensors, f"{prefix}.bias")


def layer_norm(tensors, prefix, z):
    mean = z.mean(axis=1, keepdims=True)
    var = ((z - mean) ** 2).mean(axis=1, keepdims=True)
    return (z - mean) / np.sqrt(var + NORM_EPS) * tensor(tensors, f"{prefix}.weight") + tensor(tensors, f"{prefix}.bias")


def batch_norm(tensors, prefix, z):
    """Evaluation mode: the running estimates normalize."""
    mean, var = tensor(tensors, f"{prefix}.running_mean"), tensor(tensors, f"{prefix}.running_var")
    return (z - mean) / np.sqrt(var + NORM_EPS) * tensor(tensors, f"{prefix}.weight") + tensor(tensors, f"{prefix}.bias")


def mlp_outputs(manifest, tensors, x):
    """dense -> (layer norm or batch norm) -> activation (+ the layer's input when residual and
    the widths match), for every hidden layer; then the linear head."""
    arch = manifest["architecture"]
    norm = arch.get("norm")
    if norm not in (None, "layer_norm", "batch_norm"):
        fail(f"unknown MLP normalization {norm!r}")
    h = x
    for i, _ in enumerate(arch["hidden"]):
        z = linear(tensors, f"mlp.layers.{i}", h)
        if norm == "layer_norm":
            z = layer_norm(tensors, f"mlp.norms.{i}", z)
        elif norm == "batch_norm":
            z = batch_norm(tensors, f"mlp.norms.{i}", z)
        a = activate(arch["activation"], z)
        h = a + h if arch.get("residual") and a.shape[1] == h.shape[1] else a
    return linear(tensors, f"mlp.layers.{len(arch['hidden'])}", h)


def resnet_outputs(manifest, tensors, x, codes):
    """The tabular ResNet (Gorishniy et al. 2021): the dense features followed by each
    categorical column's embedding (a row of `resnet.embeddings.{j}` per code), a linear layer,
    blocks x + linear2(relu(linear1(layer_norm(x)))) (dropout is off when predicting), then
    linear(relu(layer_norm(x)))."""
    arch = manifest["architecture"]
    if arch["activation"] != "relu" or arch["norm"] != "layer_norm":
        fail(f"ResNet with {arch['activation']!r} and {arch['norm']!r}: this script reads relu and layer_norm")
    parts = [x]
    for j, cardinality in enumerate(arch["cardinalities"]):
        table = tensor(tensors, f"resnet.embeddings.{j}")
        if table.shape != (cardinality, arch["d_embedding"]):
            fail(f"resnet.embeddings.{j} has shape {table.shape}, the manifest says [{cardinality}, {arch['d_embedding']}]")
        parts.append(table[codes[:, j]])
    h = linear(tensors, "resnet.input", np.concatenate(parts, axis=1))
    for block in range(arch["n_blocks"]):
        prefix = f"resnet.blocks.{block}"
        z = linear(tensors, f"{prefix}.linear1", layer_norm(tensors, f"{prefix}.norm", h))
        h = h + linear(tensors, f"{prefix}.linear2", np.maximum(z, 0.0))
    return linear(tensors, "resnet.head", np.maximum(layer_norm(tensors, "resnet.head_norm", h), 0.0))


TREE_KEYS = ("tree_root", "split_feature", "threshold", "decision_type", "left_child", "right_child",
             "leaf_value", "cat_boundaries", "cat_threshold")


def tree_decisions(t, node, x):
    """For rows at internal nodes `node` with feature values `x`: True where they go left,
    by LightGBM's rules (values within 1e-35 of zero read as zero; NaN reads as zero unless
    the node's missing type is NaN; categorical nodes send a category left when its bit is set)."""
    kind = t["decision_type"][node]
    missing = (kind >> 2) & 3
    nan = np.isnan(x)
    x = np.where(~nan & (np.abs(x) <= np.float64(np.float32(1e-35))), 0.0, x)
    numeric_x = np.where(nan & (missing != 2), 0.0, x)
    with np.errstate(invalid="ignore"):
        left = numeric_x <= t["threshold"][node]
    is_zero = np.abs(numeric_x) <= np.float64(np.float32(1e-35))
    defaulted = ((missing == 1) & is_zero) | ((missing == 2) & np.isnan(numeric_x))
    left = np.where(defaulted, (kind & 2) != 0, left)
    categorical = (kind & 1) != 0
    if categorical.any():
        cat = np.where(categorical, t["threshold"][node], 0).astype(np.int64)
        start, end = t["cat_boundaries"][cat], t["cat_boundaries"][cat + 1]
        value = np.where(nan, -1, np.trunc(np.nan_to_num(x))).astype(np.int64)  # C's (int) cast
        word = np.where(value >= 0, value // 32, 0)
        inside = (value >= 0) & (word < end - start)
        bits = t["cat_threshold"][np.where(inside, start + word, 0)] if len(t["cat_threshold"]) else 0
        in_set = inside & (((bits >> np.where(value >= 0, value % 32, 0)) & 1) == 1)
        left = np.where(categorical, in_set, left)
    return left


def gbdt_outputs(manifest, tensors, x):
    """Raw scores of the trees for encoded rows `x` (float64), n_rows x n_outputs."""
    arch = manifest["architecture"]
    if arch.get("format") != "kiln.trees.v1":
        fail(f"the trees are in the format {arch.get('format')!r}, this script reads 'kiln.trees.v1'")
    t = {key: tensors[f"gbdt.{key}"] for key in TREE_KEYS}
    n_outputs = arch["n_outputs"]
    out = np.zeros((x.shape[0], n_outputs))
    rows = np.arange(x.shape[0])
    for tree, root in enumerate(t["tree_root"]):
        node = np.full(x.shape[0], root, dtype=np.int64)
        while (active := node >= 0).any():
            n = node[active]
            left = tree_decisions(t, n, x[rows[active], t["split_feature"][n]])
            node[active] = np.where(left, t["left_child"][n], t["right_child"][n])
        out[:, tree % n_outputs] += t["leaf_value"][-node - 1]
    return out


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
    if arch["kind"] not in ("linear", "mlp", "resnet", "gbdt"):
        fail(f"predictions are reproduced for linear, mlp, resnet and gbdt models, this bundle is {arch['kind']!r}")
    if arch["kind"] == "gbdt":
        if args.data is None:
            fail("the trees read the index encoding: give raw rows with --data")
        dense, codes = encode_raw(manifest, args.data, True)
        x = np.concatenate([dense, codes.astype(np.float32).astype(np.float64)], axis=1)
        got = to_predictions(manifest["task"], gbdt_outputs(manifest, tensors, x))
        return compare(got, args)

    embedded = arch["kind"] == "resnet" and bool(arch["cardinalities"])
    codes = None
    if args.data is not None:
        x, codes = encode_raw(manifest, args.data, embedded)
    elif embedded:
        fail("this ResNet embeds categorical columns: give raw rows with --data")
    else:
        x = read_csv(args.features, [f"f{i}" for i in range(arch["n_inputs"])])
    if x.shape[1] != arch["n_inputs"]:
        fail(f"the encoded rows have {x.shape[1]} features, the model takes {arch['n_inputs']}")
    if arch["kind"] == "linear":
        got = linear_predictions(manifest, tensors, x)
    elif arch["kind"] == "mlp":
        got = to_predictions(manifest["task"], mlp_outputs(manifest, tensors, x))
    else:
        got = to_predictions(manifest["task"], resnet_outputs(manifest, tensors, x, codes))
    return compare(got, args)


def compare(got, args):
    """Compare computed predictions with kiln's (--predictions, --columns, --tolerance)."""
    columns = args.columns.split(",") if args.columns else csv_header(args.predictions)
    expected = read_csv(args.predictions, columns)
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
