#!/usr/bin/env bash
# The test command: every test of the workspace, the docs, and the architecture checks.
# Sets up what the tests need on a fresh machine (nothing beyond the Rust toolchain so far).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"

cargo test --workspace --locked

echo "== docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

echo "== architecture invariants"
bash scripts/check-architecture.sh
