#!/usr/bin/env bash
# Sliced evaluation on 10 million rows, kiln against pandas + scikit-learn, fairlearn and polars,
# side by side in one run: the Rust benchmark generates the rows, writes them as .npy files for
# the peers, times kiln_eval::scan and writes its numbers; the Python peers then time
# themselves on the same files, check every number against kiln's (max abs diff <= 1e-9) and
# print the table of times and ratios. The peers come from $PYTHON (default python3), e.g. a
# virtual environment with `pip install -r benches/peers/requirements.txt`.
#
#   PYTHON=/path/to/venv/bin/python benches/sliced_eval.sh
#   KILN_BENCH_ROWS=1000000 benches/sliced_eval.sh      # a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
PYTHON=${PYTHON:-python3}
"$PYTHON" -c "import numpy, pandas, polars, sklearn, fairlearn" 2>/dev/null || {
    echo "the peers need numpy, pandas, polars, scikit-learn and fairlearn importable by $PYTHON" >&2
    echo "(pip install -r benches/peers/requirements.txt, then PYTHON=/path/to/python $0)" >&2
    exit 2
}
export KILN_SLICED_DIR="${KILN_SLICED_DIR:-$CARGO_TARGET_DIR/sliced_eval}"
echo "load before kiln: $(uptime)"
cargo bench --quiet -p kiln-bench --bench sliced_eval 2>/dev/null
"$PYTHON" benches/peers/sliced_eval.py "$KILN_SLICED_DIR"
echo "load after the peers: $(uptime)"
