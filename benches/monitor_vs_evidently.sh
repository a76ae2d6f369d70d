#!/usr/bin/env bash
# `kiln monitor` against Evidently's DataDriftPreset and NannyML's UnivariateDriftCalculator,
# side by side in one run, on the same synthetic Parquet windows: a reference and a current
# window of N rows each (20 features: 14 numeric, 6 categorical; 3 segment columns of 2, 5 and
# 12 values; the current window shifted in three features everywhere and in one feature for one
# segment value only), for N in ROWS. Every tool computes every feature's drift on the whole
# window and on each of the 19 segment values' rows:
#   - kiln: `kiln monitor --config kiln.toml --data current.parquet` (the config's training
#     file is the reference), one process, reading included;
#   - evidently: a Report with DataDriftPreset (its default statistics: normed Wasserstein for
#     numeric columns, Jensen-Shannon for categorical ones and numeric ones of <= 5 values, at
#     more than 1,000 reference rows) on the whole window, then on each segment value's subset;
#   - evidently-stattests: Evidently's statistic functions called directly per column (the
#     same numbers without the Report's plots and repeated passes: Evidently's fastest path);
#   - nannyml: UnivariateDriftCalculator, one chunk per window (Kolmogorov-Smirnov and
#     Jensen-Shannon for continuous columns, chi-squared and Jensen-Shannon for categorical).
# The peers run in benches/peers/monitor_peers.py, each in its own process under
# `/usr/bin/time -v` (peak memory), timing the file reading apart. Prints one table per N
# (seconds for the whole window and the segments, ratios to kiln, peak RSS) and the largest
# difference between kiln's scores and Evidently's, and between kiln's Kolmogorov-Smirnov
# statistics (a second, untimed kiln run with `stattest = "ks"`) and NannyML's, and writes it all
# to benches/results/monitor_vs_evidently-<date>.txt.
#
#   benches/monitor_vs_evidently.sh
# ROWS="1000000 10000000" (rows per window); TOOLS="kiln evidently evidently-stattests nannyml"
# chooses the tools (without kiln: the peers alone, no ratios); PEER_MAX_ROWS="evidently=1000000"
# skips a peer above that many rows (recorded as skipped, with the reason); KILN_BIN uses a binary already built instead of
# `cargo build --release -p kiln-cli`; PYTHON creates the virtual environment (pinned packages:
# benches/peers/requirements-monitor.txt); KILN_MONITOR_BENCH_DIR keeps the data and the virtual
# environment (reused when the requirements have not changed) instead of a temporary folder
# removed at exit; KILN_MONITOR_BENCH_OUT moves the results file; SEED seeds the data (7);
# REUSE_PEER_RESULTS=1 takes a peer's results from an earlier run in KILN_MONITOR_BENCH_DIR on the
# same data instead of running it again (the table shows when and at what load each peer ran).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
# No usage reports to the peers' makers (NannyML sends one per call when it can reach them).
export NML_DISABLE_USAGE_LOGGING=1 DO_NOT_TRACK=1
PYTHON=${PYTHON:-python3}
ROWS=${ROWS:-1000000 10000000}
TOOLS=${TOOLS:-kiln evidently evidently-stattests nannyml}
PEER_MAX_ROWS=${PEER_MAX_ROWS:-}
SEED=${SEED:-7}
requirements=benches/peers/requirements-monitor.txt
peer=benches/peers/monitor_peers.py
out=${KILN_MONITOR_BENCH_OUT:-benches/results/monitor_vs_evidently-$(date -u +%Y-%m-%d).txt}

if [ -n "${KILN_MONITOR_BENCH_DIR:-}" ]; then
  work=$KILN_MONITOR_BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
using() { case " $TOOLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

[ -x /usr/bin/time ] || { echo "/usr/bin/time (GNU time, apt: time) measures peak memory: install it and retry" >&2; exit 2; }

if using kiln; then
  if [ -z "${KILN_BIN:-}" ]; then
    source scripts/build-deps.sh
    echo "== cargo build --release -p kiln-cli" >&2
    cargo build --quiet --release -p kiln-cli
  fi
  KILN_BIN=${KILN_BIN:-$CARGO_TARGET_DIR/release/kiln}
  if ! "$KILN_BIN" monitor --help >/dev/null 2>&1; then
    echo "$KILN_BIN has no \`monitor\` command (commit $(git rev-parse --short HEAD)): TOOLS=\"evidently evidently-stattests nannyml\" runs the peers alone" >&2
    exit 2
  fi
fi

venv=$work/venv
if ! [ -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "== installing the peers into $venv (pip: $requirements)" >&2
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$venv/requirements.txt"
fi
py=$venv/bin/python

mkdir -p "$(dirname "$out")"
exec > >(tee "$out")
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)
echo "# kiln monitor vs Evidently and NannyML, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)"
echo "# machine: $cpu, $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2 " GiB memory, " $7 " GiB available"}'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# peers: $("$venv/bin/pip" freeze | grep -iE '^(evidently|nannyml|pandas|numpy|scipy|pyarrow)==' | tr '\n' ' ')"
echo "# busy processes at the start: $(ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 > 20 {printf "%s (%s%%) ", $2, $1}')"

status=0
for rows in $ROWS; do
  data=$work/rows-$rows
  if ! [ -f "$data/meta.json" ] || [ "$(cat "$data/seed" 2>/dev/null)" != "$SEED" ]; then
    echo "== generating two windows of $rows rows in $data" >&2
    rm -rf "$data"
    "$py" "$peer" generate --rows "$rows" --seed "$SEED" --out "$data"
    echo "$SEED" >"$data/seed"
  fi
  "$py" "$peer" config --rows "$rows" --seed "$SEED" --out "$data"
  args=(--data "$data")
  if using kiln; then
    echo "== kiln monitor, $rows rows (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    rm -rf "$data/kiln-out"
    code=0
    /usr/bin/time -v -o "$data/kiln.time" "$KILN_BIN" monitor --config "$data/kiln.toml" --data "$data/current.parquet" \
      --out "$data/kiln-out" --format json --quiet >"$data/kiln-stdout.json" || code=$?
    # exit 1: drift found (a group whose share of drifted features reaches drift_share), 0: none
    if [ "$code" -gt 1 ]; then echo "kiln monitor failed with exit code $code" >&2; exit 2; fi
    echo "kiln monitor: exit $code"
    args+=(--kiln-report "$data/kiln-out/report.json" --kiln-time "$data/kiln.time")
    if using nannyml; then
      # untimed: Kolmogorov-Smirnov for every numeric feature, for NannyML's KS statistics
      sed 's/^stattest = "auto".*/stattest = "ks"/' "$data/kiln.toml" >"$data/kiln-ks.toml"
      rm -rf "$data/kiln-ks-out"
      "$KILN_BIN" monitor --config "$data/kiln-ks.toml" --data "$data/current.parquet" --out "$data/kiln-ks-out" \
        --format json --quiet >/dev/null || [ $? -eq 1 ]
      args+=(--kiln-ks-report "$data/kiln-ks-out/report.json")
    fi
  fi
  for tool in evidently evidently-stattests nannyml; do
    using "$tool" || continue
    max_rows=$(tr ' ' '\n' <<<"$PEER_MAX_ROWS" | sed -n "s/^$tool=//p")
    if [ -n "$max_rows" ] && [ "$rows" -gt "$max_rows" ]; then
      args+=(--skipped "$tool: not run at $rows rows (PEER_MAX_ROWS: $PEER_MAX_ROWS)")
      continue
    fi
    if [ "${REUSE_PEER_RESULTS:-0}" = 1 ] && [ -f "$data/$tool.json" ] && [ -f "$data/$tool.time" ]; then
      echo "== $tool, $rows rows: the results of an earlier run ($data/$tool.json)" >&2
      args+=(--peer "$data/$tool.json" --peer-time "$data/$tool.time")
      continue
    fi
    echo "== $tool, $rows rows (load $(cut -d' ' -f1 /proc/loadavg), $(free -g | awk '/^Mem:/ {print $7}') GiB available)" >&2
    rm -f "$data/$tool.json"
    if /usr/bin/time -v -o "$data/$tool.time" "$py" "$peer" run --tool "$tool" --data "$data" --json "$data/$tool.json"; then
      args+=(--peer "$data/$tool.json" --peer-time "$data/$tool.time")
    else
      reason=$(grep -E 'Command terminated|Exit status|Maximum resident' "$data/$tool.time" | tr '\n' ' ')
      args+=(--skipped "$tool: failed at $rows rows ($reason)")
    fi
  done
  "$py" "$peer" table "${args[@]}" || status=$?
  echo "# load at the end of $rows rows: $(cut -d' ' -f1-3 /proc/loadavg)"
done
exit "$status"
