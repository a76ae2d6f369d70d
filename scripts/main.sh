#!/usr/bin/env bash
# The main job on the shipped data: `kiln run configs/adult.toml` validates and versions UCI
# Adult, splits it, trains every configured model, evaluates them side by side on the test
# file (sliced by segment, with intervals, fairness gaps and paired tests), checks the
# acceptance gates, records the run, exports the best passing model and writes the report
# folder; then the exported bundle scores the test file with `kiln predict`, and `kiln serve`
# answers one request for it over HTTP on loopback (KILN_SERVE_PORT, default 18080), after
# `kiln monitor` checks the test split for drift against the bundle's references.
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
# drift of the test file against the bundle's references (exit 1 would mean drift found)
"$kiln" monitor --bundle .kiln/bundles/adult.safetensors --config "$config" \
  --data .kiln/splits/adult/test.parquet --out .kiln/monitor/adult

port=${KILN_SERVE_PORT:-18080}
"$kiln" serve --bundle adult=.kiln/bundles/adult.safetensors --bind "127.0.0.1:$port" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
python3 - "$port" <<'PY'
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(300):  # at most 30 s for the server to be ready
    try:
        urllib.request.urlopen(base + "/v2/health/ready", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
row = {"age": 39, "workclass": "State-gov", "fnlwgt": 77516, "education": "Bachelors",
       "education_num": 13, "marital_status": "Never-married", "occupation": "Adm-clerical",
       "relationship": "Not-in-family", "race": "White", "sex": "Male", "capital_gain": 2174,
       "capital_loss": 0, "hours_per_week": 40, "native_country": "United-States"}
request = urllib.request.Request(base + "/v1/models/adult:predict", json.dumps({"instances": [row]}).encode(),
                                 {"content-type": "application/json"})
print("kiln serve:", urllib.request.urlopen(request, timeout=10).read().decode())
PY
kill -TERM $server && wait $server
echo "report: .kiln/reports/adult/report.html (also report.md, report.json)"
echo "monitoring: .kiln/monitor/adult/report.html"
