#!/usr/bin/env bash
# kiln's gradient-boosted trees against LightGBM and XGBoost (pip), side by side in one run, on
# the same split and the same encoded rows: quality, training seconds, predict rows/s on one
# thread and on every core, single-row latency. One section per config; the default list is
# every shipped dataset plus the synthetic case that guards high-cardinality interactions.
#
#   benches/gbdt_peers.sh [CONFIG ...]
# PYTHON=/path/to/python chooses the interpreter; KILN_BENCH_PROFILE=dev reuses the test build
# (kiln-core and kiln-train are optimized there too) instead of a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
PYTHON=${PYTHON:-python3}
PROFILE=${KILN_BENCH_PROFILE:-release}
case "$PROFILE" in dev) out_dir=debug ;; *) out_dir=$PROFILE ;; esac
source scripts/build-deps.sh
if ! "$PYTHON" -c "import lightgbm, xgboost, sklearn, numpy" 2>/dev/null; then
  echo "== installing the peers (pip: lightgbm xgboost scikit-learn numpy)" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check lightgbm xgboost scikit-learn numpy
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
  cargo build --quiet --profile "$PROFILE" -p kiln-cli
  kiln="$CARGO_TARGET_DIR/$out_dir/kiln"
  "$kiln" -q data synth --case interactions --rows 300000 --seed 7 --out "$work/interactions.csv" >/dev/null
  configs=(configs/adult.toml configs/flights.toml configs/diamonds.toml configs/diamonds_cut.toml configs/bikeshare.toml "$work/interactions.toml")
fi

folders=()
for config in "${configs[@]}"; do
  name=$(basename "$config" .toml)
  echo "== kiln: $config" >&2
  KILN_GBDT_CONFIG="$(realpath "$config")" KILN_GBDT_OUT="$work/$name" cargo bench --quiet --profile "$PROFILE" -p kiln-bench --bench gbdt_peer >&2
  folders+=("$work/$name")
done
echo "# GBDT peers, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), profile $PROFILE, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$PYTHON" benches/peers/gbdt_peers.py "${folders[@]}" --json "${KILN_GBDT_JSON:-$work/results.json}"
