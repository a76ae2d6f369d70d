"""Everything an MLflow tracking server holds, read with MLflow's own client, as JSON on stdout.

Usage: python3 scripts/mlflow_readback.py http://127.0.0.1:5000

The kiln MLflow export tests compare it with kiln's store: experiments, runs (status, times,
params, tags, every metric's full history with steps and timestamps, artifacts listed with their
sha256), registered models with their versions (tags, source, run) and aliases. Non-finite
metric values are written as the strings "NaN", "Infinity" and "-Infinity".
"""

import hashlib
import json
import math
import os
import sys
import tempfile

from mlflow import MlflowClient
from mlflow.entities import ViewType


def number(value):
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def artifacts(client, run_id, scratch, path=None):
    found = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            found.update(artifacts(client, run_id, scratch, info.path))
        else:
            local = client.download_artifacts(run_id, info.path, scratch)
            with open(local, "rb") as f:
                found[info.path] = hashlib.sha256(f.read()).hexdigest()
    return found


def run_record(client, run, scratch):
    metrics = {}
    for key in run.data.metrics:
        history = client.get_metric_history(run.info.run_id, key)
        metrics[key] = sorted([m.step, number(m.value), m.timestamp] for m in history)
    return {
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "run_name": run.info.run_name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "params": run.data.params,
        "tags": run.data.tags,
        "metrics": metrics,
        "artifacts": artifacts(client, run.info.run_id, scratch),
    }


def main(url):
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    out = {"experiments": {e.name: e.experiment_id for e in experiments}, "runs": [], "models": {}}
    with tempfile.TemporaryDirectory() as scratch:
        for experiment in experiments:
            runs = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL, max_results=50000)
            for run in runs:
                out["runs"].append(run_record(client, run, os.path.join(scratch, run.info.run_id)))
    for model in client.search_registered_models():
        versions = client.search_model_versions(f"name='{model.name}'")
        out["models"][model.name] = {
            "aliases": dict(model.aliases),
            "versions": sorted(
                (
                    {
                        "version": v.version,
                        "run_id": v.run_id,
                        "source": v.source,
                        "tags": v.tags,
                        "aliases": sorted(v.aliases),
                    }
                    for v in versions
                ),
                key=lambda v: int(v["version"]),
            ),
        }
    json.dump(out, sys.stdout, allow_nan=False)


if __name__ == "__main__":
    main(sys.argv[1])
