#!/usr/bin/env bash
# The learning loop end to end, on this machine, in a few minutes:
#   1. train and gate the Adult model (configs/adult-loop.toml: adult.data only) and make it
#      the champion; serve it with kiln-serve, writing the prediction log;
#   2. send it traffic it has not seen (adult.test rows, drawn with a tilt towards older people
#      with longer hours: a shift of the inputs) and ingest the true labels that come back;
#   3. `kiln monitor` finds the drift; `kiln retrain` (triggered by it) trains a challenger on
#      the original data plus the labelled logged rows and judges it against the champion on
#      the most recent labelled rows, held out;
#   4. `kiln rollout` shadows the challenger, gives it a growing canary share while more
#      traffic and labels arrive, and promotes it to champion;
#   5. a challenger trained on shuffled labels is stopped by the gates, and a challenger that
#      fails live (injected scoring failures) is rolled back by the rollout's checks, with the
#      champion serving throughout;
#   6. `kiln lineage` shows the champion's chain back to the original data; the audit log
#      verifies.
# Every decision is printed and kept as JSON under $LOOP_DIR/out (the end-to-end test reads it).
#
# Environment: LOOP_DIR (default .kiln/loop-demo, emptied first), KILN_BIN (a built kiln; by
# default this script builds it), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
if [ -z "${KILN_BIN:-}" ]; then
  source scripts/build-deps.sh
  cargo build --locked -p kiln-cli --bin kiln
  KILN_BIN="$CARGO_TARGET_DIR/debug/kiln"
fi
kiln() { "$KILN_BIN" "$@"; }
config=configs/adult-loop.toml
work=${LOOP_DIR:-.kiln/loop-demo}
rm -rf "$work"
mkdir -p "$work/out" "$work/labels"
work=$(cd "$work" && pwd)
out="$work/out"
log="$work/predictions"
export KILN_STORE="$work/kiln.db" KILN_ACTOR=loop-demo NO_COLOR=1
step() { printf '\n== %s\n' "$*" >&2; }
# expect CODE CMD...: run CMD, fail the demo unless it exits with CODE
expect() {
  local want=$1 code=0
  shift
  "$@" || code=$?
  if [ "$code" != "$want" ]; then
    echo "loop-demo: expected exit $want, got $code from: $*" >&2
    exit 1
  fi
}
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

step "1. train, gate and promote the champion"
kiln -q run "$config" --out "$work/reports/v1" --bundle "$work/bundles/adult-v1.safetensors"
kiln models promote adult 1 --alias champion
kiln models list --format json >"$out/models-start.json"

step "   serve adult@champion (prediction log: $log)"
cat >"$work/serve.toml" <<EOF
[serving]
bind = "127.0.0.1:0"
store = "$KILN_STORE"
poll_ms = 200

[[serving.models]]
name = "adult"
routes = [{ source = "adult@champion", weight = 100 }]

[serving.log]
dir = "$log"
flush_interval_ms = 200
segment_seconds = 5
EOF
"$KILN_BIN" serve --config "$work/serve.toml" 2>"$work/serve.log" &
server=$!
pids+=("$server")
base=""
for _ in $(seq 1 600); do # at most 60 s
  base=$(sed -n 's/.*addr=\([0-9.:]*\).*/\1/p' "$work/serve.log" | head -1)
  [ -n "$base" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { echo "loop-demo: kiln serve did not start" >&2; exit 1; }
base="http://$base"
echo "kiln serve at $base" >&2

# traffic ROUND ROWS: the next ROWS rows of one shifted order of adult.test (none sent twice)
# go to the server, and their labels are ingested afterwards
sent=0
traffic() {
  python3 scripts/loop_traffic.py --base "$base" --rows "$2" --offset "$sent" --tilt 1.0 --seed 1 \
    --prefix "$1" --data datasets/adult/adult.test --labels "$work/labels/$1.csv" >"$out/traffic-$1.json"
  sent=$((sent + $2))
  sleep 0.5 # the log flushes every 200 ms
  local code=0
  kiln feedback ingest --labels "$work/labels/$1.csv" --log "$log" --model adult --format json \
    >"$out/ingest-$1.json" || code=$?
  [ "$code" = 0 ] || { echo "loop-demo: feedback ingest of $1 exited $code" >&2; exit 1; }
}

# faults JSON: inject faults into the served model (kiln-serve's drill endpoint)
faults() {
  python3 - "$base/admin/models/adult/faults" "$1" <<'PY'
import sys, urllib.request
request = urllib.request.Request(sys.argv[1], sys.argv[2].encode(), {"content-type": "application/json"}, method="PUT")
urllib.request.urlopen(request, timeout=10).read()
PY
}

# roll_out N PREFIX ROWS ROUNDS CODE: run the rollout controller in the background while rounds
# of ROWS requests (and their labels) arrive, at most ROUNDS of them; it must exit with CODE
roll_out() {
  "$KILN_BIN" rollout run adult --config "$config" --log "$log" --server "$base" --timeout 5m \
    --format json >"$out/rollout-$1.json" &
  local controller=$! round=0
  pids+=("$controller")
  while kill -0 "$controller" 2>/dev/null && [ $round -lt "$4" ]; do
    round=$((round + 1))
    traffic "$2-$round" "$3"
  done
  expect "$5" wait "$controller"
}

step "2. traffic the model has not seen, and its labels"
traffic r1 4000

step "3. drift, and a retrain it triggers"
expect 1 kiln monitor --log "$log" --model adult@champion --config "$config" --out "$work/monitor" \
  --format json >"$out/monitor.json"
expect 0 kiln retrain "$config" --model adult@champion --log "$log" --if-drift --format json \
  >"$out/retrain-1.json"

step "4. shadow, canary, promote"
kiln rollout start adult --config "$config" --format json >"$out/rollout-1-start.json"
roll_out 1 r2 400 12 0
kiln models list --format json >"$out/models-promoted.json"

step "5a. a challenger trained on shuffled labels: stopped by the gates"
python3 - "$work" <<'PY'
import random, sys
work = sys.argv[1]
rows = [line.rstrip("\n") for line in open("datasets/adult/adult.data") if line.strip()]
labels = [r.rsplit(",", 1)[1] for r in rows]
random.Random(7).shuffle(labels)
with open(f"{work}/adult-shuffled.data", "w") as f:
    f.writelines(r.rsplit(",", 1)[0] + "," + l + "\n" for r, l in zip(rows, labels))
config = open("configs/adult-loop.toml").read()
config = config.replace('train = "../datasets/adult/adult.data"', f'train = "{work}/adult-shuffled.data"')
open(f"{work}/adult-shuffled.toml", "w").write(config)
PY
expect 1 kiln -q run "$work/adult-shuffled.toml" --out "$work/reports/shuffled" \
  --bundle "$work/bundles/adult-shuffled.safetensors"
kiln models list --format json >"$out/models-after-shuffled.json"
# nothing was registered, so there is no new challenger to roll out
expect 2 kiln rollout start adult --config "$config"

step "5b. a challenger that fails live: rolled back by the rollout, the champion serving throughout"
traffic r3 1500
expect 0 kiln retrain "$config" --model adult@champion --log "$log" --format json >"$out/retrain-2.json"
kiln rollout start adult --config "$config" --format json >"$out/rollout-2-start.json"
challenger=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["challenger_version"])' "$out/rollout-2-start.json")
faults "{\"fail\": true, \"version\": $challenger}" # the challenger's scoring fails, only it
roll_out 2 r4 300 8 1
faults '{}'
kiln models list --format json >"$out/models-end.json"

step "6. lineage and audit"
kiln lineage adult@champion
kiln lineage adult@champion --format json >"$out/lineage.json"
kiln audit verify --format json >"$out/audit-verify.json"
kill -TERM "$server"
wait "$server" || true
echo "loop-demo: done; decisions under $out" >&2
