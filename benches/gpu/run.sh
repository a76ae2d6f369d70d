#!/usr/bin/env bash
# The one GPU benchmark script (about 5 minutes, at most ~8 on an H100/H200). Runs on the GPU
# machine the executables that benches/gpu/prepare.sh built elsewhere; needs no compiler there.
#
#   benches/gpu/run.sh              # all steps; results under benches/results/gpu-<UTC date>/
#   benches/gpu/run.sh --dry-run    # checks every prepared file and prints the plan (any machine)
#
# Environment: KILN_GPU_PREPARED (default benches/gpu/prepared), KILN_GPU_RESULTS (results
# folder), PYTHON (default /opt/torch/.venv/bin/python3, else python3: PyTorch, and polars for
# the polars step), KILN_GPU_BUDGET_S (default 450: no step starts past it, and each step's
# timeout ends within it), KILN_GPU_STEPS (space-separated step names: run only those).
#
# Steps, in order of priority, each under `timeout`, each log kept:
#   kernels_test kiln-kernels' GPU-vs-CPU tests (KILN_TEST_DEVICE=cuda: fail without a GPU)
#   sliced_gpu   10M rows x 76 groups, 1,000 bootstrap replicates: kiln's kernels against
#                kiln_eval::scan / scan_bootstrap on the CPU (extrapolated past 60 s, it says so)
#   torch_f32, torch_bf16, kiln_f32, kiln_bf16
#                MLP 64-512-512-1 training, batch 4096, 1,048,576 rows: PyTorch eager and kiln
#   polars       point metrics of the same rows in polars (bootstrap: not run in polars)
#   adult_cpu, adult_cuda
#                kiln run configs/adult.toml --device cpu / --device cuda
# Then a table of ratios (summary.md) next to every log, nvidia-smi's output and the commit.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PREP=${KILN_GPU_PREPARED:-benches/gpu/prepared}
BUDGET=${KILN_GPU_BUDGET_S:-450}
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1

# ---------- prepared files ----------
missing=0
check() { # path [executable]
    local z
    for z in "" .xz .gz; do
        if [ -f "$1$z" ]; then echo "ok       $1$z"; return; fi
    done
    echo "MISSING  $1"
    missing=1
}
for exe in kiln mlp_train sliced_eval sliced_gpu kernels_gpu_test train_gpu_test; do check "$PREP/bin/$exe"; done
for f in "$PREP/device-env.sh" "$PREP/COMMIT" benches/peers/torch_mlp.py benches/peers/sliced_eval.py \
    configs/adult.toml datasets/adult/adult.data datasets/adult/adult.test; do
    check "$f"
done
if [ "$DRY" = 1 ]; then
    bash -n "$0" && echo "ok       bash -n $0"
    for s in "kernels_test 60" "train_test 120" "kiln_f32 60" "torch_f32 90" "kiln_bf16 60" "torch_bf16 90" "kiln_f32_unfused 60" \
        "sliced_gpu 200" "polars 150" \
        "adult_cpu 120" "adult_cuda 120"; do
        echo "plan     step ${s% *}: timeout ${s#* } s (within a ${BUDGET} s budget)"
    done
    [ "$missing" = 0 ] && echo "dry run: ready" || echo "dry run: prepared files missing (run benches/gpu/prepare.sh)"
    exit "$missing"
fi
[ "$missing" = 0 ] || { echo "prepared files missing: run benches/gpu/prepare.sh where the CUDA toolchain is" >&2; exit 2; }

START=$(date +%s)
OUTDIR=${KILN_GPU_RESULTS:-benches/results/gpu-$(date -u +%Y-%m-%d-%H%M)}
mkdir -p "$OUTDIR"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin"
for exe in kiln mlp_train sliced_eval sliced_gpu kernels_gpu_test train_gpu_test; do
    if [ -f "$PREP/bin/$exe.xz" ]; then
        # xz, or Python's lzma where the xz tool is missing
        xz -dc "$PREP/bin/$exe.xz" > "$WORK/bin/$exe" 2>/dev/null ||
            python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
                "$PREP/bin/$exe.xz" "$WORK/bin/$exe"
    elif [ -f "$PREP/bin/$exe.gz" ]; then
        gunzip -c "$PREP/bin/$exe.gz" > "$WORK/bin/$exe"
    else
        cp "$PREP/bin/$exe" "$WORK/bin/$exe"
    fi
    chmod +x "$WORK/bin/$exe"
done
# shellcheck disable=SC1090,SC1091
source "$PREP/device-env.sh"
PY=${PYTHON:-/opt/torch/.venv/bin/python3}
[ -x "$PY" ] || PY=$(command -v python3)

# ---------- the machine ----------
nvidia-smi > "$OUTDIR/nvidia-smi.txt" 2>&1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUTDIR/gpu.csv" 2>&1
{
    echo "date: $(date -u +%FT%TZ)"
    echo "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
    echo "commit (prepared): $(tr '\n' ' ' < "$PREP/COMMIT")"
    echo "build: $(tr '\n' ';' < "$PREP/BUILD" 2>/dev/null)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
    echo "python: $PY ($("$PY" -c 'import torch; print("torch", torch.__version__)' 2>/dev/null || echo 'no torch'))"
    echo "LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"
} > "$OUTDIR/machine.txt"
cat "$OUTDIR/machine.txt"

# ---------- steps ----------
printf 'step\trc\tseconds\n' > "$OUTDIR/steps.tsv"
step() { # name cap command...
    local name=$1 cap=$2
    shift 2
    if [ -n "${KILN_GPU_STEPS:-}" ] && [[ " $KILN_GPU_STEPS " != *" $name "* ]]; then
        return
    fi
    local left=$((BUDGET - ($(date +%s) - START)))
    local t=$((cap < left ? cap : left))
    if [ "$t" -lt 15 ]; then
        echo "== $name: skipped (budget spent)"
        printf '%s\tskipped\t0\n' "$name" >> "$OUTDIR/steps.tsv"
        return
    fi
    echo "== $name (timeout ${t} s)"
    local s0 rc ms secs
    s0=$(date +%s%N)
    timeout -k 5 "$t" "$@" > "$OUTDIR/$name.log" 2>&1
    rc=$?
    ms=$((($(date +%s%N) - s0) / 1000000))
    secs=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    printf '%s\t%s\t%s\n' "$name" "$rc" "$secs" >> "$OUTDIR/steps.tsv"
    tail -3 "$OUTDIR/$name.log" | sed 's/^/   /'
    [ "$rc" = 0 ] || echo "   (exit $rc$([ "$rc" = 124 ] && echo ': timed out'))"
}

ROWS=1048576
step kernels_test 60 env KILN_TEST_DEVICE=cuda "$WORK/bin/kernels_gpu_test" --test-threads 1
step train_test 120 env KILN_TEST_DEVICE=cuda "$WORK/bin/train_gpu_test" candle --test-threads 1
MLP=(KILN_BENCH_DEVICE=cuda KILN_BENCH_ROWS=$ROWS KILN_BENCH_EPOCHS=4)
step kiln_f32 60 env "${MLP[@]}" KILN_BENCH_PRECISION=f32 "$WORK/bin/mlp_train"
step torch_f32 90 "$PY" benches/peers/torch_mlp.py "$ROWS" 4 --device cuda --precision f32
step kiln_bf16 60 env "${MLP[@]}" KILN_BENCH_PRECISION=bf16 "$WORK/bin/mlp_train"
step torch_bf16 90 "$PY" benches/peers/torch_mlp.py "$ROWS" 4 --device cuda --precision bf16
# The same kiln training with candle's tensor ops instead of the fused step kernels.
step kiln_f32_unfused 60 env "${MLP[@]}" KILN_BENCH_PRECISION=f32 KILN_CUDA_FUSED=0 "$WORK/bin/mlp_train"
step sliced_gpu 200 env KILN_GPU_OUT="$OUTDIR" KILN_BENCH_CPU_BUDGET_S=60 "$WORK/bin/sliced_gpu"
# polars from the prepared archive when this Python has none
POLARS_PATH=
if ! "$PY" -c 'import polars' 2>/dev/null && [ -f "$PREP/polars-site.tar.xz" ]; then
    mkdir -p "$WORK/site"
    if tar xJf "$PREP/polars-site.tar.xz" -C "$WORK/site" 2>/dev/null ||
        "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$PREP/polars-site.tar.xz" "$WORK/site"; then
        POLARS_PATH="$WORK/site"
    fi
fi
step polars 150 bash -c "KILN_SLICED_DIR='$WORK/sliced' KILN_BENCH_REPS=3 '$WORK/bin/sliced_eval' \
    && PYTHONPATH='$POLARS_PATH'\${PYTHONPATH:+:\$PYTHONPATH} KILN_PEERS=polars '$PY' benches/peers/sliced_eval.py '$WORK/sliced'"
for dev in cpu cuda; do
    step "adult_$dev" 120 "$WORK/bin/kiln" --quiet --store "$WORK/store-$dev.db" run configs/adult.toml \
        --device "$dev" --out "$WORK/report-$dev" --bundle "$WORK/adult-$dev.safetensors"
done

# ---------- the table ----------
"$PY" benches/gpu/summary.py "$OUTDIR" | tee "$OUTDIR/summary.md"
echo "results: $OUTDIR ($(($(date +%s) - START)) s)"
