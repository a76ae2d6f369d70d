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

# Run a cargo build/test command (its JSON messages on stdout) and copy the executables of the
# named targets into $PREP/bin: copy_executables TARGET=NAME... -- cargo ARGS...
copy_executables() {
    local wanted=()
    while [ "$1" != "--" ]; do wanted+=("$1"); shift; done
    shift
    "$@" --message-format=json-render-diagnostics > "$PREP/cargo.json"
    python3 - "$PREP" "${wanted[@]}" <<'PY'
import json, shutil, sys
prep, wanted = sys.argv[1], dict(arg.split("=", 1) for arg in sys.argv[2:])
found = {}
for line in open(f"{prep}/cargo.json"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    name = m.get("target", {}).get("name")
    if m.get("reason") == "compiler-artifact" and m.get("executable") and name in wanted:
        found[name] = m["executable"]
missing = wanted.keys() - found.keys()
if missing:
    sys.exit(f"prepare: cargo built no executable for {sorted(missing)}")
for name, path in found.items():
    shutil.copy(path, f"{prep}/bin/{wanted[name]}")
PY
    rm -f "$PREP/cargo.json"
}

echo "== kiln-bench benches (--features cuda)"
copy_executables mlp_train=mlp_train sliced_eval=sliced_eval sliced_gpu=sliced_gpu -- \
    cargo build --release --locked -p kiln-bench --features cuda --benches

echo "== kiln-kernels GPU-vs-CPU tests (--features cuda)"
copy_executables gpu=kernels_gpu_test -- \
    cargo test --release --locked -p kiln-kernels --features cuda --test gpu --no-run

echo "== kiln-train's device tests (--features cuda; the candle trainer and predict_on on the GPU)"
copy_executables kiln_train=train_gpu_test -- \
    cargo test --release --locked -p kiln-train --features cuda --lib --no-run

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
# polars for the polars step, where the GPU machine's Python has none (no network there): the
# wheel's files repacked as one xz archive that run.sh unpacks onto PYTHONPATH for that step.
# KILN_GPU_POLARS=0 skips it; needs pip and network here.
if [ "${KILN_GPU_POLARS:-1}" != 0 ]; then
    echo "== polars ${KILN_GPU_POLARS_VERSION:-1.9.0} for the GPU machine's Python 3.12"
    wheel_dir=$(mktemp -d)
    if python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$wheel_dir" \
        "polars==${KILN_GPU_POLARS_VERSION:-1.9.0}"; then
        mkdir -p "$wheel_dir/site"
        python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$wheel_dir"/polars-*.whl "$wheel_dir/site"
        tar cf - -C "$wheel_dir/site" . | xz -9e -T2 > "$PREP/polars-site.tar.xz"
    else
        echo "prepare: could not download polars; the polars step will need polars on the GPU machine" >&2
    fi
    rm -rf "$wheel_dir"
fi
total=$(du -cm "$PREP"/bin/* | tail -1 | cut -f1)
if [ "$total" -gt "$LIMIT_MIB" ]; then
    echo "== $total MiB of executables: compressing with xz (run.sh unpacks them; about 1 minute per executable)"
    for f in "$PREP"/bin/*; do xz -9e -T2 "$f" & done
    wait
    total=$(du -cm "$PREP"/bin/* | tail -1 | cut -f1)
fi
ls -la "$PREP/bin"
echo "prepared $PREP: $total MiB of executables, $(du -sm "$PREP" | cut -f1) MiB in all; $(head -1 "$PREP/COMMIT")"
echo "next, on the GPU machine: benches/gpu/run.sh   (check first here: benches/gpu/run.sh --dry-run)"
