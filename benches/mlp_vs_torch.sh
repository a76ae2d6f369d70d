#!/usr/bin/env bash
# MLP training throughput, kiln against PyTorch on the CPU, side by side in one run:
# 64 -> 512 -> 512 -> 1, batch 4096, AdamW, the same thread count, synthetic rows.
# Prints both samples/s and the ratio. PyTorch comes from $PYTHON (default python3), e.g. a
# virtual environment with `pip install torch numpy`.
#
#   PYTHON=/path/to/venv/bin/python benches/mlp_vs_torch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
PYTHON=${PYTHON:-python3}
THREADS=2   # torch_mlp.py pins 2 threads too
"$PYTHON" -c "import torch" 2>/dev/null || { echo "PyTorch is not importable by $PYTHON (pip install torch numpy)" >&2; exit 2; }

kiln_out=$(KILN_BENCH_THREADS=$THREADS cargo bench --quiet -p kiln-bench --bench mlp_train 2>/dev/null)
echo "$kiln_out"
torch_out=$(OMP_NUM_THREADS=$THREADS "$PYTHON" benches/peers/torch_mlp.py)
echo "$torch_out"
kiln=$(echo "$kiln_out" | grep -oE '[0-9.]+ samples/s' | tail -1 | cut -d' ' -f1)
torch=$(echo "$torch_out" | grep -oE '[0-9.]+ samples/s' | tail -1 | cut -d' ' -f1)
python3 -c "print(f'ratio kiln / PyTorch: {$kiln / $torch:.2f}x (target >= 1.0x)')"
