#!/usr/bin/env bash
# Builds here (no GPU needed) everything benches/gpu/run.sh runs on a GPU machine, into
# benches/gpu/prepared/ (git-ignored): the stripped release executables kiln, mlp_train,
# sliced_eval, sliced_gpu, kernels_gpu_test (kiln-kernels' GPU-vs-CPU tests) and train_gpu_test
# (kiln-train's unit tests, whose candle tests take KILN_TEST_DEVICE=cuda) built with
# --features cuda, a copy of device-env.sh, and the commit.
# Needs the CUDA 13.0 toolchain of scripts/cuda-toolchain.sh (default $CUDAENV=/tmp/cudaenv).
#
#   bash scripts/cuda-toolchain.sh          # once per machine
#   benches/gpu/prepare.sh                  # then copy/carry benches/gpu/prepared with the tree
set -euo pipefail
cd "$(dirname "$0")/../.."
CUDAENV=${CUDAENV:-/tmp/cudaenv}
PREP=${KILN_GPU_PREPARED:-benches/gpu/prepared}
LIMIT_MIB=60
if [ ! -f "$CUDAENV/env.sh" ]; then
    echo "prepare: no CUDA toolchain at $CUDAENV (run: bash scripts/cuda-toolchain.sh)" >&2
    exit 2
fi
# shellcheck disable=SC1091
source "$CUDAENV/env.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
rm -rf "$PREP" && mkdir -p "$PREP/bin"

echo "== kiln-bench benches (--features cuda)"
cargo build --release --locked -p kiln-bench --features cuda --benches --message-format=json-render-diagnostics \
    > "$PREP/cargo-bench.json"
python3 - "$PREP" <<'PY'
import json, shutil, sys
prep = sys.argv[1]
wanted = {"mlp_train", "sliced_eval", "sliced_gpu"}
found = {}
for line in open(f"{prep}/cargo-bench.json"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    t = m.get("target", {})
    if m.get("reason") == "compiler-artifact" and m.get("executable") and t.get("name") in wanted:
        found[t["name"]] = m["executable"]
missing = wanted - found.keys()
if missing:
    sys.exit(f"prepare: cargo built no executable for {sorted(missing)}")
for name, path in found.items():
    shutil.copy(path, f"{prep}/bin/{name}")
PY
rm -f "$PREP/cargo-bench.json"

echo "== kiln-kernels GPU-vs-CPU tests (--features cuda)"
cargo test --release --locked -p kiln-kernels --features cuda --test gpu --no-run --message-format=json-render-diagnostics \
    > "$PREP/cargo-test.json"
python3 - "$PREP" <<'PY'
import json, shutil, sys
prep = sys.argv[1]
for line in open(f"{prep}/cargo-test.json"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "gpu":
        shutil.copy(m["executable"], f"{prep}/bin/kernels_gpu_test")
        break
else:
    sys.exit("prepare: cargo built no kiln-kernels gpu test")
PY
rm -f "$PREP/cargo-test.json"

echo "== kiln-train's device tests (--features cuda; the candle trainer and predict_on on the GPU)"
cargo test --release --locked -p kiln-train --features cuda --lib --no-run --message-format=json-render-diagnostics \
    > "$PREP/cargo-train.json"
python3 - "$PREP" <<'PY'
import json, shutil, sys
prep = sys.argv[1]
for line in open(f"{prep}/cargo-train.json"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "kiln_train":
        shutil.copy(m["executable"], f"{prep}/bin/train_gpu_test")
        break
else:
    sys.exit("prepare: cargo built no kiln-train test executable")
PY
rm -f "$PREP/cargo-train.json"

echo "== kiln (kiln-cli)"
if grep -qE '^cuda *=' crates/kiln-cli/Cargo.toml; then
    cargo build --release --locked -p kiln-cli --features cuda
    echo "kiln: --features cuda" > "$PREP/BUILD"
else
    cargo build --release --locked -p kiln-cli
    echo "kiln: built without cuda (kiln-cli has no cuda feature at this commit; --device cuda fails)" > "$PREP/BUILD"
fi
cp "$CARGO_TARGET_DIR/release/kiln" "$PREP/bin/kiln"
echo "kiln-bench: --features cuda (kiln-kernels, CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90})" >> "$PREP/BUILD"

strip "$PREP"/bin/*
if [ -f scripts/device-env.sh ]; then
    cp scripts/device-env.sh "$PREP/device-env.sh"
elif [ -f ../shared/gpu/device-env.sh ]; then
    cp ../shared/gpu/device-env.sh "$PREP/device-env.sh"
else
    echo "prepare: no device-env.sh (scripts/ or ../shared/gpu/)" >&2
    exit 2
fi
{ git rev-parse HEAD; git status --porcelain | grep -q . && echo "(with uncommitted changes)"; } > "$PREP/COMMIT" || true
total=$(du -cm "$PREP"/bin/* | tail -1 | cut -f1)
if [ "$total" -gt "$LIMIT_MIB" ]; then
    echo "== $total MiB of executables: compressing (run.sh unpacks them)"
    gzip -6 "$PREP"/bin/*
    total=$(du -cm "$PREP"/bin/* | tail -1 | cut -f1)
fi
ls -la "$PREP/bin"
echo "prepared $PREP: $total MiB; $(cat "$PREP/COMMIT" | head -1)"
echo "next, on the GPU machine: benches/gpu/run.sh   (check first here: benches/gpu/run.sh --dry-run)"
