#!/usr/bin/env bash
# The main job on the shipped data: validate, describe, version and split UCI Adult, then
# train every configured model, export the best to a bundle and score the test split with it.
# Builds kiln (the same build the tests use) on first run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
cargo build --locked -p kiln-cli --bin kiln
kiln="$CARGO_TARGET_DIR/debug/kiln"
config=${1:-configs/adult.toml}

"$kiln" data validate "$config"
"$kiln" data describe "$config"
"$kiln" data snapshot "$config" --out .kiln/snapshots/adult.json
"$kiln" data split "$config" --out .kiln/splits/adult
"$kiln" train "$config" --out .kiln/bundles/adult.safetensors
"$kiln" predict --bundle .kiln/bundles/adult.safetensors --data .kiln/splits/adult/test.parquet \
  --out .kiln/predictions/adult-test.parquet
"$kiln" runs list --limit 5
