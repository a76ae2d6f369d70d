#!/usr/bin/env bash
# The test command: every test of the workspace, the docs, and the architecture checks.
# Sets up what the tests need on a fresh machine: the Rust toolchain, LightGBM's build tools
# (scripts/build-deps.sh), plus numpy and safetensors for the Python script that reproduces
# kiln's predictions from a bundle, pyarrow, which reads kiln-serve's prediction log, and
# mlflow (scripts/requirements-mlflow.txt), whose server and client test the MLflow export.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
source scripts/build-deps.sh

if ! python3 -c "import numpy, safetensors, pyarrow" 2>/dev/null; then
  echo "== installing numpy, safetensors (scripts/bundle_check.py) and pyarrow (the prediction log)"
  python3 -m pip install --quiet --disable-pip-version-check numpy safetensors pyarrow
fi
python3 -c "import numpy, safetensors, pyarrow" || { echo "numpy, safetensors and pyarrow are required by the tests" >&2; exit 1; }
export KILN_REQUIRE_PYTHON=1

# MLflow (tracking server and Python client) for the tests of `kiln runs export --mlflow`.
if ! python3 -c "import mlflow" 2>/dev/null; then
  echo "== installing mlflow (scripts/requirements-mlflow.txt: the MLflow export tests)"
  python3 -m pip install --quiet --disable-pip-version-check -r scripts/requirements-mlflow.txt
fi
python3 -c "import mlflow" || { echo "mlflow is required by the MLflow export tests" >&2; exit 1; }
export KILN_REQUIRE_MLFLOW=1

cargo test --workspace --locked

echo "== docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

echo "== architecture invariants"
bash scripts/check-architecture.sh
