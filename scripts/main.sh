#!/usr/bin/env bash
# The main job on the shipped data: `kiln run configs/adult.toml` validates and versions UCI
# Adult, splits it, trains every configured model, evaluates them side by side on the test
# file (sliced by segment, with intervals, fairness gaps and paired tests), checks the
# acceptance gates, records the run, exports the best passing model and writes the report
# folder; then the exported bundle scores the test file with `kiln predict`.
# Builds kiln (the same build the tests use) on first run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
source scripts/build-deps.sh
cargo build --locked -p kiln-cli --bin kiln
kiln="$CARGO_TARGET_DIR/debug/kiln"
config=${1:-configs/adult.toml}

"$kiln" run "$config" --out .kiln/reports/adult --bundle .kiln/bundles/adult.safetensors
"$kiln" data split "$config" --out .kiln/splits/adult
"$kiln" predict --bundle .kiln/bundles/adult.safetensors --data .kiln/splits/adult/test.parquet \
  --out .kiln/predictions/adult-test.parquet
"$kiln" runs list --limit 5
echo "report: .kiln/reports/adult/report.html (also report.md, report.json)"
