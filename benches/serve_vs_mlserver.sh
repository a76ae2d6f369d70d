#!/usr/bin/env bash
# kiln-serve against MLServer, side by side in one run, on loopback: the Adult GBDT and MLP that
# kiln trains (configs/adult.toml, one bundle each), and their peers trained by Python on the
# same train split (kiln data split, kiln.split.v1) and served by MLServer (pip mlserver with its
# LightGBM and scikit-learn runtimes, benches/peers/requirements-mlserver.txt, in a virtual
# environment of its own), in two configurations: `mlserver` with its default inference pool
# (one worker process) and `mlserver-inline` (parallel_workers = 0: inference in the HTTP
# process, faster for small models on few cores). Every server answers the Open Inference
# Protocol (KServe v2) POST /v2/models/{name}/infer; wrk (apt) drives each with the same fixed
# bodies (benches/peers/wrk_post.lua): single-row requests at concurrency 1, 8 and 64 and
# 1,024-row requests at concurrency 8, per model and server, each after a warm-up. Before
# timing, each server's answer to both bodies is checked (200, one probability per row in
# [0, 1]; MLServer's equal to its Python model's; how far kiln-serve's are from the Python
# models'). Prints one table per model (requests/s, rows/s, p50 and p99 latency, the ratios)
# and writes it with every raw wrk output as JSON to benches/results/serve_vs_mlserver-<date>.json.
# What each side gets is in benches/peers/serve_vs_mlserver.py (prepare).
#
#   benches/serve_vs_mlserver.sh
# DURATION=10 and WARMUP=3 (seconds per case); KILN_BIN and KILN_SERVE_BIN use binaries already
# built instead of `cargo build --release -p kiln-cli -p kiln-serve`; KILN_SERVE_ARGS adds
# flags to kiln-serve; SERVERS="kiln-serve mlserver mlserver-inline" chooses the servers; PYTHON
# creates the virtual environment; KILN_SERVE_BENCH_DIR keeps the scratch folder (and reuses its
# virtual environment) instead of a temporary one removed at exit; KILN_SERVE_BENCH_JSON moves
# the JSON. Every server it starts is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kiln-target}"
PYTHON=${PYTHON:-python3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
SERVERS=${SERVERS:-kiln-serve mlserver mlserver-inline}
json_out=${KILN_SERVE_BENCH_JSON:-benches/results/serve_vs_mlserver-$(date -u +%Y-%m-%d).json}
requirements=benches/peers/requirements-mlserver.txt
peer=benches/peers/serve_vs_mlserver.py
lua=benches/peers/wrk_post.lua
config=configs/adult.toml

if [ -n "${KILN_SERVE_BENCH_DIR:-}" ]; then
  work=$KILN_SERVE_BENCH_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
fi
# Each server runs under setsid, so that its pid is also the id of the process group holding it
# and its workers (MLServer's inference pool): stopping the group stops them all.
server_groups=()
stop_servers() {
  local group
  for group in "${server_groups[@]}"; do
    kill -TERM -- "-$group" 2>/dev/null || kill -TERM "$group" 2>/dev/null || true
  done
  for group in "${server_groups[@]}"; do
    for _ in $(seq 50); do kill -0 -- "-$group" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$group" 2>/dev/null || true
  done
  if [ -z "${KILN_SERVE_BENCH_DIR:-}" ]; then rm -rf "$work"; fi
}
trap stop_servers EXIT

serving() { case " $SERVERS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing the load generator (apt: wrk)" >&2
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >&2 \
      || { echo "could not install wrk: install it and retry" >&2; exit 2; }
  else
    echo "install wrk (https://github.com/wg/wrk) and retry" >&2
    exit 2
  fi
fi

build=()
[ -n "${KILN_BIN:-}" ] || build+=(-p kiln-cli)
if serving kiln-serve && [ -z "${KILN_SERVE_BIN:-}" ]; then build+=(-p kiln-serve); fi
if [ ${#build[@]} -gt 0 ]; then
  source scripts/build-deps.sh
  echo "== cargo build --release ${build[*]}" >&2
  cargo build --quiet --release "${build[@]}"
fi
KILN_BIN=${KILN_BIN:-$CARGO_TARGET_DIR/release/kiln}
KILN_SERVE_BIN=${KILN_SERVE_BIN:-$CARGO_TARGET_DIR/release/kiln-serve}

venv=$work/mlserver-venv
if ! [ -x "$venv/bin/mlserver" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "== installing MLServer into $venv (pip: $requirements)" >&2
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$venv/requirements.txt"
fi
py=$venv/bin/python

echo "== kiln: the split and the two bundles (kiln train, store $work/kiln/kiln.db)" >&2
rm -rf "$work/kiln" "$work/split" "$work/mlserver" "$work/results.jsonl" "$work/checks.jsonl"
mkdir -p "$work/kiln"
"$py" "$peer" kiln-configs --config "$config" --out "$work/kiln"
store=$work/kiln/kiln.db
"$KILN_BIN" -q --store "$store" data split "$work/kiln/adult-gbdt.toml" --out "$work/split" >/dev/null
runs=()
for model in gbdt mlp; do
  "$KILN_BIN" -q --store "$store" train "$work/kiln/adult-$model.toml" --out "$work/kiln/adult-$model.safetensors" \
    --device cpu --checkpoint-every 0 --format json >"$work/kiln/train-$model.json"
  run_id=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["run_id"])' "$work/kiln/train-$model.json")
  "$KILN_BIN" -q --store "$store" runs show --format json "$run_id" >"$work/kiln/run-$model.json"
  runs+=(--run "$work/kiln/run-$model.json")
done
"$py" "$peer" same-split --split "$work/split" "${runs[@]}"

echo "== MLServer: the peers on the same train split" >&2
"$py" "$peer" prepare --config "$config" --split "$work/split" --out "$work/mlserver"

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_ready NAME URL LOG PID: poll the readiness URL for up to 120 s while the server lives.
wait_ready() {
  for _ in $(seq 240); do
    if curl -fs -o /dev/null "$2"; then return 0; fi
    if ! kill -0 "$4" 2>/dev/null; then break; fi
    sleep 0.5
  done
  echo "$1 did not become ready at $2; the end of its log ($3):" >&2
  tail -n 30 "$3" >&2
  exit 2
}

declare -A base_url
# start_mlserver NAME WORKERS: MLServer over its own copy of the model repository, HTTP on a free
# loopback port (gRPC too, as it always starts one; no metrics server), WORKERS inference
# processes (0: inference in the HTTP process).
start_mlserver() {
  local repo=$work/mlserver/repo-$1 http grpc pid
  rm -rf "$repo"
  mkdir -p "$repo"
  cp -r "$work/mlserver/models/." "$repo/"
  http=$(free_port)
  grpc=$(free_port)
  cat >"$repo/settings.json" <<EOF
{"host": "127.0.0.1", "http_port": $http, "grpc_port": $grpc, "metrics_endpoint": null, "parallel_workers": $2, "debug": false}
EOF
  setsid "$venv/bin/mlserver" start "$repo" >"$work/$1.log" 2>&1 &
  pid=$!
  server_groups+=("$pid")
  base_url[$1]=http://127.0.0.1:$http
  wait_ready "$1" "${base_url[$1]}/v2/health/ready" "$work/$1.log" "$pid"
  for model in gbdt mlp; do
    wait_ready "$1" "${base_url[$1]}/v2/models/adult-$model/ready" "$work/$1.log" "$pid"
  done
}
if serving mlserver; then start_mlserver mlserver 1; fi
if serving mlserver-inline; then start_mlserver mlserver-inline 0; fi
if serving kiln-serve; then
  port=$(free_port)
  # --store: the scratch store, so that nothing reads the repository's .kiln
  # shellcheck disable=SC2086 # KILN_SERVE_ARGS is a list of flags
  NO_COLOR=1 setsid "$KILN_SERVE_BIN" --bundle "adult-gbdt=$work/kiln/adult-gbdt.safetensors" \
    --bundle "adult-mlp=$work/kiln/adult-mlp.safetensors" --store "$store" --bind "127.0.0.1:$port" ${KILN_SERVE_ARGS:-} \
    >"$work/kiln-serve.log" 2>&1 &
  pid=$!
  server_groups+=("$pid")
  base_url[kiln-serve]=http://127.0.0.1:$port
  wait_ready kiln-serve "${base_url[kiln-serve]}/v2/health/ready" "$work/kiln-serve.log" "$pid"
fi

echo "== checking the answers" >&2
for server in $SERVERS; do
  for model in gbdt mlp; do
    "$py" "$peer" check --server "$server" --model "$model" --url "${base_url[$server]}/v2/models/adult-$model/infer" \
      --out-dir "$work/mlserver" --checks "$work/checks.jsonl"
  done
done

# run_case SERVER MODEL ROWS CONCURRENCY: warm up, then time DURATION seconds with wrk.
run_case() {
  local server=$1 model=$2 rows=$3 concurrency=$4 threads=2 body url raw summary load
  [ "$concurrency" -ge 2 ] || threads=1
  body=$work/mlserver/bodies/${server%-inline}-$model-$rows.json
  url=${base_url[$server]}/v2/models/adult-$model/infer
  BODY=$body wrk -t"$threads" -c"$concurrency" -d"${WARMUP}s" --timeout 30s -s "$lua" "$url" >/dev/null
  load=$(cut -d' ' -f1 /proc/loadavg)
  raw=$(BODY=$body wrk -t"$threads" -c"$concurrency" -d"${DURATION}s" --timeout 30s --latency -s "$lua" "$url")
  summary=$(grep '^WRK ' <<<"$raw" | cut -c5-)
  [ -n "$summary" ] || { echo "wrk printed no summary for $server $model:"$'\n'"$raw" >&2; exit 2; }
  "$py" -c 'import json, sys; print(json.dumps({"server": sys.argv[1], "model": sys.argv[2], "rows": int(sys.argv[3]),
    "concurrency": int(sys.argv[4]), "wrk_threads": int(sys.argv[5]), "load_before": float(sys.argv[6]),
    "wrk": json.loads(sys.argv[7]), "raw": sys.argv[8]}))' \
    "$server" "$model" "$rows" "$concurrency" "$threads" "$load" "$summary" "$raw" >>"$work/results.jsonl"
  echo "   $server adult-$model, $rows row(s) x $concurrency: $(grep -E '^Requests/sec' <<<"$raw")" >&2
}

echo "== timing: ${DURATION}s per case after ${WARMUP}s of warm-up" >&2
for model in gbdt mlp; do
  for case in "1 1" "1 8" "1 64" "1024 8"; do
    for server in $SERVERS; do
      # shellcheck disable=SC2086 # case is "ROWS CONCURRENCY"
      run_case "$server" "$model" $case
    done
  done
done

mkdir -p "$(dirname "$json_out")"
echo "# kiln-serve vs MLServer, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" "$peer" table --results "$work/results.jsonl" --checks "$work/checks.jsonl" --json "$json_out" --meta \
  "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" "commit=$(git rev-parse --short HEAD)" "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)" \
  "cores=$(nproc)" "load_at_end=$(cut -d' ' -f1-3 /proc/loadavg)" "duration_s=$DURATION" "warmup_s=$WARMUP" \
  "kiln_serve_args=${KILN_SERVE_ARGS:-}" "mlserver_parallel_workers=mlserver 1 (its default), mlserver-inline 0" \
  "mlserver=$("$venv/bin/pip" freeze | grep -iE '^(mlserver|lightgbm|scikit-learn)==' | tr '\n' ' ')" \
  "wrk=$(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
