#!/usr/bin/env bash
# The test command: every test of the workspace, the docs, and the architecture checks.
# Sets up what the tests need on a fresh machine: the Rust toolchain, LightGBM's build tools
# (scripts/build-deps.sh), plus numpy and safetensors for the Python script that reproduces
# kiln's predictions from a bundle, pyarrow, which reads kiln-serve's prediction log, and
# mlflow (scripts/requirements-mlflow.txt), whose server and client test the MLflow export, and
# PostgreSQL's server binaries (apt: postgresql), on which kiln-track's tests and the replica
# test start a throwaway server.
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

# PostgreSQL's server binaries for the store's tests on both backends.
pg_bin_found() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
if ! pg_bin_found; then
  echo "== installing PostgreSQL's server binaries (apt: postgresql) for the store's tests"
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2 \
      || { echo "could not install postgresql: install it and retry" >&2; exit 1; }
  else
    echo "install PostgreSQL's server binaries (initdb, pg_ctl), then retry" >&2
    exit 1
  fi
fi
pg_bin_found || { echo "PostgreSQL's initdb is required by the store's tests" >&2; exit 1; }
export KILN_REQUIRE_POSTGRES=1

cargo test --workspace --locked

echo "== docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

echo "== architecture invariants"
bash scripts/check-architecture.sh
