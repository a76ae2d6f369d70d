#!/usr/bin/env bash
# Invariants from ARCHITECTURE.md that the compiler does not check.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0

# 1. Dependency direction between kiln's crates: ARCHITECTURE.md's crate graph as a table.
#    Each crate's direct kiln dependencies (normal edges, every feature on, so optional ones
#    such as `cuda` count) must be among the allowed ones; every other kiln crate is forbidden.
#    `-` allows none. A crate missing from the workspace is skipped.
edges="
kiln-core      -
kiln-kernels   -
kiln-track     -
kiln-data      kiln-core
kiln-eval      kiln-core kiln-kernels
kiln-train     kiln-core kiln-data kiln-eval kiln-kernels
kiln-pipeline  kiln-core kiln-data kiln-eval kiln-train kiln-track kiln-kernels kiln-monitor kiln-log
kiln-monitor   kiln-core
kiln-log       kiln-core kiln-track
kiln-serve     kiln-core kiln-track kiln-monitor kiln-log
kiln-mlflow    kiln-track
kiln-cli       kiln-core kiln-data kiln-eval kiln-train kiln-track kiln-kernels kiln-pipeline kiln-serve kiln-monitor kiln-log kiln-mlflow
"
kiln_deps() { # crate: its direct kiln dependencies, one per line
  cargo tree --locked -p "$1" -e normal --all-features --depth 1 --prefix none --format '{p}' 2>/dev/null \
    | tail -n +2 | awk '{print $1}' | grep '^kiln-' | sort -u
}
if cargo metadata --format-version 1 --locked >/dev/null 2>&1; then
  while read -r crate allowed; do
    [ -n "$crate" ] && [ -d "crates/$crate" ] || continue
    for dep in $(kiln_deps "$crate"); do
      grep -qw -- "$dep" <<<"$allowed" || { echo "invariant broken: $crate depends on $dep (allowed: $allowed)"; fail=1; }
    done
  done <<<"$edges"
fi

#    Third-party edges: these packages must NOT be found anywhere in these crates' trees.
must_not_depend() { # crate forbidden
  if ! cargo metadata --format-version 1 --locked >/dev/null 2>&1; then return; fi
  local out
  if out=$(cargo tree --locked -p "$1" -i "$2" -e normal 2>&1); then
    echo "invariant broken: $1 depends on $2"; fail=1
  elif ! grep -q "did not match any packages" <<<"$out"; then
    echo "cannot check that $1 does not depend on $2:"; echo "$out"; fail=1
  fi
}
must_not_depend kiln-core polars
must_not_depend kiln-core rusqlite
# serving scores trees with kiln-core's own code: no training library
must_not_depend kiln-core lightgbm3-sys
if [ -d crates/kiln-track ]; then must_not_depend kiln-track candle-core; must_not_depend kiln-track polars; fi
# the serving binary: inference through kiln-core and the registry, nothing of training,
# polars, candle, LightGBM or evaluation
if [ -d crates/kiln-serve ]; then
  for forbidden in polars candle-core lightgbm3-sys kiln-train kiln-eval kiln-data; do
    must_not_depend kiln-serve "$forbidden"
  done
fi
must_not_depend kiln-eval polars
must_not_depend kiln-monitor polars
must_not_depend kiln-log polars
# the MLflow export speaks plain blocking HTTP (ureq) over kiln-track's records: no polars,
# candle or HTTP server stack (tokio arrives only inside kiln-track's PostgreSQL client)
for forbidden in polars candle-core axum hyper; do must_not_depend kiln-mlflow "$forbidden"; done
must_not_depend kiln-kernels polars
must_not_depend kiln-kernels candle-core

# 2. Every source file opens with a //! doc comment saying what it owns.
while IFS= read -r f; do
  head -n 1 "$f" | grep -q '^//!' || { echo "missing //! module doc: $f"; fail=1; }
done < <(find crates -path '*/src/*.rs' -type f)

# 3. Every crate is named in ARCHITECTURE.md.
for d in crates/*/; do
  name=$(basename "$d")
  grep -q "$name" ARCHITECTURE.md || { echo "ARCHITECTURE.md does not name $name"; fail=1; }
done

# 4. Files stay under 800 lines.
while IFS= read -r f; do
  n=$(wc -l < "$f")
  [ "$n" -le 800 ] || { echo "$f has $n lines (keep files under ~800)"; fail=1; }
done < <(find crates benches tests -name '*.rs' -type f -not -path '*/target/*')

# 5. unsafe code only in the kernel launches and LightGBM's C API, each unsafe block with a
#    SAFETY comment.
unsafe_files="crates/kiln-kernels/src/cuda/launch.rs crates/kiln-train/src/baselines/gbdt/lightgbm.rs"
while IFS= read -r f; do
  grep -qw "$f" <<<"$unsafe_files" || { echo "unsafe code allowed outside $unsafe_files: $f"; fail=1; }
done < <(grep -rlE 'allow\((unsafe_code|unsafe)' crates benches tests --include='*.rs' || true)
for f in $unsafe_files; do
  [ -f "$f" ] || continue
  u=$(grep -c 'unsafe {' "$f"); c=$(grep -c '// SAFETY:' "$f")
  [ "$u" -eq "$c" ] || { echo "$f: $u unsafe blocks but $c SAFETY comments"; fail=1; }
done

# 6. The pipeline is a library that never prints, parses arguments or draws progress.
must_not_depend kiln-pipeline indicatif
must_not_depend kiln-pipeline clap
while IFS= read -r hit; do
  echo "kiln-pipeline prints (results and progress belong to kiln-cli): $hit"; fail=1
done < <(grep -rnE '\b(e?println|e?print|dbg)!' crates/kiln-pipeline/src || true)

# 7. kiln-cli holds no pipeline state: its source names no polars type (`kiln predict` reads
#    and writes through kiln-data's `batch` and scores through kiln-core), and polars is not
#    one of its own dependencies (it reaches polars only through kiln-data and kiln-pipeline).
while IFS= read -r hit; do
  echo "kiln-cli names polars (data handling belongs to kiln-data and kiln-pipeline): $hit"; fail=1
done < <(grep -rn 'polars' crates/kiln-cli/src || true)
if cargo metadata --format-version 1 --locked >/dev/null 2>&1 &&
  cargo tree --locked -p kiln-cli -e normal --depth 1 --prefix none 2>/dev/null | grep -q '^polars '; then
  echo "invariant broken: kiln-cli depends on polars directly"; fail=1
fi

# 8. One container module and one atomic-write helper: outside tests, only kiln_core::container
#    (with the bundle's tensor type and the error enum) names safetensors, and only
#    kiln_core::atomic makes temporary files or renames them into place.
allowed_safetensors="crates/kiln-core/src/container.rs crates/kiln-core/src/bundle/tensor.rs crates/kiln-core/src/error.rs"
while IFS= read -r f; do
  grep -qw "$f" <<<"$allowed_safetensors" || { echo "safetensors used outside kiln_core::container: $f"; fail=1; }
done < <(grep -rl 'safetensors::' crates/*/src --include='*.rs' | grep -v '/tests\.rs$' || true)
while IFS= read -r f; do
  [ "$f" = crates/kiln-core/src/atomic.rs ] || { echo "file written outside kiln_core::atomic: $f"; fail=1; }
done < <(grep -rlE 'tempfile::Builder|\.persist\(|fs::write\(|File::create\(' crates/*/src --include='*.rs' \
           | grep -v '/tests\.rs$' | while IFS= read -r f; do
               # test modules at the end of a file may write scratch files
               awk '/#\[cfg\(test\)\]/ { exit } /tempfile::Builder|\.persist\(|fs::write\(|File::create\(/ { print FILENAME; exit }' "$f"
             done || true)

[ "$fail" -eq 0 ] && echo "architecture invariants hold"
exit "$fail"
