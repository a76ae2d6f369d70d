#!/usr/bin/env bash
# `kiln data validate` and `kiln data snapshot` on data too big for one file: FILES Parquet
# files of ROWS_PER_FILE synthetic rows each (default 50 x 1,000,000 = 50 million rows), in one
# folder, read batch by batch (row group by row group). Each file is written by its own
# `kiln data synth --rows ROWS_PER_FILE --seed N` (one file in memory at a time); the config is
# the companion config `synth` writes, with `[data] train` set to the folder. Both commands run
# under `/usr/bin/time -v`; the script prints their wall time and peak RSS next to the data's
# size on disk and in memory (Arrow's in-memory size of every file, read one at a time with
# pyarrow), then removes the data unless KILN_PARTS_BENCH_DIR keeps it.
#
#   benches/partitioned_data.sh
# FILES=50 ROWS_PER_FILE=1000000; KILN_BIN uses a binary already built instead of
# `cargo build --release -p kiln-cli`; KILN_PARTS_BENCH_DIR writes the data there (kept) instead
# of a temporary folder removed at exit; PYTHON (with pyarrow) measures the in-memory size.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
FILES=${FILES:-50}
ROWS_PER_FILE=${ROWS_PER_FILE:-1000000}
PYTHON=${PYTHON:-python3}

[ -x /usr/bin/time ] || { echo "/usr/bin/time (GNU time, apt: time) measures peak memory: install it and retry" >&2; exit 2; }
if [ -z "${KILN_BIN:-}" ]; then
  cargo build --release -p kiln-cli >&2
  KILN_BIN=$CARGO_TARGET_DIR/release/kiln
fi
if [ -n "${KILN_PARTS_BENCH_DIR:-}" ]; then
  work=$KILN_PARTS_BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
data=$work/events
mkdir -p "$data"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "commit: $(git rev-parse --short HEAD); date: $(date -u +%Y-%m-%dT%H:%MZ); binary: $KILN_BIN"
start=$(date +%s)
for i in $(seq 0 $((FILES - 1))); do
  name=$(printf 'part-%03d.parquet' "$i")
  [ -s "$data/$name" ] && continue
  if [ "$i" -eq 0 ]; then
    "$KILN_BIN" --quiet data synth --rows "$ROWS_PER_FILE" --seed "$((1000 + i))" --out "$work/first.parquet" >/dev/null
    mv "$work/first.parquet" "$data/$name"
    # The companion config, reading the whole folder.
    sed 's|^train = .*|train = "events"|' "$work/first.toml" > "$work/kiln.toml"
  else
    "$KILN_BIN" --quiet data synth --rows "$ROWS_PER_FILE" --seed "$((1000 + i))" --out "$data/$name" --no-config >/dev/null
  fi
done
echo "generated $FILES files of $ROWS_PER_FILE rows in $(( $(date +%s) - start )) s"

disk=$(du -sb "$data" | cut -f1)
memory=$("$PYTHON" - "$data" <<'PY'
import glob, sys
import pyarrow.parquet as pq
total = 0
for path in sorted(glob.glob(sys.argv[1] + "/*.parquet")):
    total += pq.read_table(path).nbytes
print(total)
PY
)
gib() { awk -v b="$1" 'BEGIN { printf "%.2f GiB", b / 1073741824 }'; }
echo "rows: $((FILES * ROWS_PER_FILE)); on disk: $(gib "$disk"); in memory (Arrow): $(gib "$memory")"

measure() {
  local what=$1; shift
  local log=$work/$what.time
  local rc=0
  (cd "$work" && /usr/bin/time -v "$@" >"$work/$what.out" 2>"$log") || rc=$?
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  printf '%-10s exit %d  wall %s  peak RSS %s  (%.1f%% of the in-memory size)  load after: %s\n' \
    "$what" "$rc" "$wall" "$(gib $((rss * 1024)))" "$(awk -v r="$rss" -v m="$memory" 'BEGIN { print 100 * r * 1024 / m }')" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
}
measure validate "$KILN_BIN" --quiet --store "$work/kiln.db" data validate kiln.toml --format json
measure snapshot "$KILN_BIN" --quiet --store "$work/kiln.db" data snapshot kiln.toml --out "$work/snapshot.json" --format json
"$PYTHON" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
report = json.load(open(work + "/validate.out"))
print("validate: passed=%s, rows=%s, findings=%s" % (report["passed"], [f["n_rows"] for f in report["files"]],
      ["%s %s %s" % (f["check"], f.get("column") or "", f["count"]) for f in report["findings"]]))
snap = json.load(open(work + "/snapshot.json"))
print("snapshot: dataset %s, split %s/%s/%s" % (snap["dataset_hash"][:16], snap["split"]["train"],
      snap["split"]["validation"], snap["split"]["test"]))
PY
