#!/usr/bin/env python3
"""Traffic for the learning-loop demo: Adult rows sent one per request to a running kiln-serve,
drawn from a file with a tilt (older people with longer hours are drawn more often, a shift of
the input distribution the monitor must see), and their true labels written to a CSV as they
would come back later: keyed by request id, with the time each label became known, in an
order that is not the requests' order.

Standard library only. Every request has a timeout and the number of requests is bounded.
Prints a JSON summary on stdout: requests sent, answers by route and version, failures.
"""

import argparse
import csv
import json
import math
import random
import sys
import time
import urllib.error
import urllib.request

COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week",
    "native_country", "income",
]
INTS = {"age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"}


def read_rows(path):
    rows = []
    with open(path, newline="") as f:
        for record in csv.reader(f, skipinitialspace=True):
            if len(record) != len(COLUMNS) or record[0].startswith("|"):
                continue
            row = {}
            for name, value in zip(COLUMNS, record):
                value = value.strip()
                if value == "?":
                    row[name] = None
                elif name in INTS:
                    row[name] = int(value)
                else:
                    row[name] = value.rstrip(".") if name == "income" else value
            rows.append(row)
    if not rows:
        sys.exit(f"error: no Adult rows in {path}\nhint: pass datasets/adult/adult.test or adult.data")
    return rows


def tilted_order(rows, tilt, rng):
    """Every row once, in a random order drawn with weights exp(tilt * z), z the standardized
    age plus hours per week (weighted sampling without replacement, Efraimidis-Spirakis keys):
    the earlier rows are older people with longer hours, and no row is sent twice."""
    scores = [r["age"] / 13.6 + (r["hours_per_week"] or 40) / 12.3 for r in rows]
    mean = sum(scores) / len(scores)
    keys = [-math.log(1.0 - rng.random()) / math.exp(tilt * (s - mean)) for s in scores]
    return [row for _, row in sorted(zip(keys, rows), key=lambda pair: pair[0])]


def send(base, model, row, request_id, timeout):
    features = {k: v for k, v in row.items() if k != "income"}
    body = json.dumps({"instances": [features]}).encode()
    request = urllib.request.Request(
        f"{base}/v1/models/{model}:predict", body,
        {"content-type": "application/json", "x-request-id": request_id},
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="the server, e.g. http://127.0.0.1:18081")
    p.add_argument("--model", default="adult")
    p.add_argument("--data", default="datasets/adult/adult.test")
    p.add_argument("--rows", type=int, default=1000, help="requests to send (one row each)")
    p.add_argument("--tilt", type=float, default=0.0, help="0: the file's own mix; 1.0: a strong shift")
    p.add_argument("--seed", type=int, default=1, help="the order's seed: keep it across rounds")
    p.add_argument("--offset", type=int, default=0, help="skip this many rows of the order (earlier rounds)")
    p.add_argument("--prefix", default="req", help="request ids are PREFIX-N")
    p.add_argument("--labels", help="write the rows' true labels here (CSV)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    args = p.parse_args()

    rng = random.Random(args.seed)
    order = tilted_order(read_rows(args.data), args.tilt, rng)
    rows = order[args.offset:args.offset + args.rows]
    if len(rows) < args.rows:
        sys.exit(f"error: {args.data} has {len(order)} rows; rows {args.offset}..{args.offset + args.rows} asked for")
    routes, versions, failures, labels = {}, {}, 0, []
    for i, row in enumerate(rows):
        request_id = f"{args.prefix}-{i}"
        try:
            answer = send(args.base, args.model, row, request_id, args.timeout)
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            failures += 1
            if failures > max(10, args.rows // 10):
                sys.exit(f"error: {failures} requests failed, the last: {e}")
            continue
        routes[answer["route"]] = routes.get(answer["route"], 0) + 1
        versions[str(answer["version"])] = versions.get(str(answer["version"]), 0) + 1
        labels.append((request_id, row["income"], time.time()))
    if args.labels:
        # each outcome becomes known some seconds after its prediction, and they come back in
        # another order than the requests'
        end = time.time()
        stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(min(end, t + rng.uniform(0.5, 5.0))))
        labels = [(request_id, label, stamp(at)) for request_id, label, at in labels]
        rng.shuffle(labels)
        with open(args.labels, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["request_id", "income", "labelled_at"])
            out.writerows(labels)
    print(json.dumps({"sent": len(rows), "answered": len(rows) - failures, "failed": failures,
                      "routes": routes, "versions": versions}))


if __name__ == "__main__":
    main()
