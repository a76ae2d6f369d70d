"""The table of benches/gpu/run.sh: reads the step logs, steps.tsv and sliced_gpu.json of a
results folder and prints Markdown (ratios > 1 favour kiln's GPU path). Missing numbers show
as "n/a" with the reason from the step's log.

    python3 benches/gpu/summary.py benches/results/gpu-<date>
"""

import json
import os
import re
import sys


def main():
    out = sys.argv[1]
    steps = {}
    with open(os.path.join(out, "steps.tsv")) as f:
        next(f)
        for line in f:
            name, rc, secs = line.rstrip("\n").split("\t")
            steps[name] = (rc, float(secs))

    def log(name):
        try:
            with open(os.path.join(out, f"{name}.log")) as f:
                return f.read()
        except OSError:
            return ""

    def why(name):
        rc = steps.get(name, ("not run", 0))[0]
        if rc == "skipped":
            return "skipped: time budget spent"
        if rc == "124":
            return "timed out"
        last = [line for line in log(name).strip().splitlines() if line.strip()]
        return (last[-1][:110] if last else f"exit {rc}").replace("|", "/")

    def rate(name):
        m = re.findall(r"([0-9.]+) samples/s \(median", log(name))
        return float(m[-1]) if m else None

    rows = []

    def row(what, kiln, peer, peer_name, unit, higher_better, note=""):
        if kiln is None or peer is None:
            ratio = "n/a"
        else:
            ratio = f"{(kiln / peer if higher_better else peer / kiln):.2f}x"
        fmt = (lambda v: f"{v:,.0f}") if unit == "samples/s" else (lambda v: f"{v:.3f}")
        rows.append((what, "n/a" if kiln is None else fmt(kiln), peer_name,
                     "n/a" if peer is None else fmt(peer), unit, ratio, note))

    for prec in ("f32", "bf16"):
        k, t = rate(f"kiln_{prec}"), rate(f"torch_{prec}")
        note = "; ".join(x for x in [
            "" if k is not None else f"kiln: {why(f'kiln_{prec}')}",
            "" if t is not None else f"torch: {why(f'torch_{prec}')}",
        ] if x)
        row(f"MLP 64-512-512-1 training, batch 4096, {prec}", k, t, "PyTorch eager (cuda)", "samples/s", True, note)

    k, u = rate("kiln_f32"), rate("kiln_f32_unfused")
    row("MLP training f32: fused step kernels vs candle's tensor ops", k, u, "kiln, KILN_CUDA_FUSED=0",
        "samples/s", True, "" if u is not None else f"unfused: {why('kiln_f32_unfused')}")

    sliced = None
    try:
        with open(os.path.join(out, "sliced_gpu.json")) as f:
            sliced = json.load(f)
    except (OSError, ValueError):
        pass
    if sliced:
        reps = sliced["replicates"]
        row(f"bootstrap, {sliced['rows']:,} rows, 76 groups, {reps} replicates", sliced["gpu_bootstrap_total_s"],
            sliced["cpu_bootstrap_s"], "kiln CPU (scan_bootstrap)", "s", False,
            f"GPU incl. host sort + upload; kernels {sliced['gpu_bootstrap_s']:.3f} s; CPU "
            f"{sliced['cpu_bootstrap_note']}; interval max diff {sliced['interval_max_diff']}")
        # the sort by score is part of the work on both sides (the CPU scan sorts too)
        point = sliced["gpu_point_s"] + sliced["prep_s"] + sliced["upload_s"]
        note = f"GPU incl. host sort + upload ({sliced['gpu_point_s']:.3f} s without)"
        row("point metrics (sliced), same rows", point, sliced["cpu_point_s"], "kiln CPU (scan)", "s", False,
            f"{note}; max diff {sliced['point_max_diff']}")
        m = re.search(r"polars expressions: ([0-9.]+) s", log("polars"))
        row("point metrics (sliced), same rows", point, float(m.group(1)) if m else None, "polars", "s", False,
            f"{note}; polars: point metrics only (no bootstrap)" + ("" if m else f"; {why('polars')}"))
    else:
        rows.append(("sliced evaluation on the GPU", "n/a", "", "", "", "n/a", why("sliced_gpu")))

    cpu, cuda = steps.get("adult_cpu"), steps.get("adult_cuda")
    ok = lambda s: s is not None and s[0] in ("0", "1")  # 1: a gate failed, the run finished
    row("kiln run configs/adult.toml (wall)", cuda[1] if ok(cuda) else None, cpu[1] if ok(cpu) else None,
        "kiln --device cpu", "s", False, "" if ok(cuda) else f"cuda: {why('adult_cuda')}")

    for name, what in [("kernels_test", "kiln-kernels GPU-vs-CPU tests"),
                       ("train_test", "kiln-train candle tests on the GPU (KILN_TEST_DEVICE=cuda)")]:
        m = re.search(r"test result: (\w+)\. (\d+) passed; (\d+) failed", log(name))
        if m:
            print(f"{what}: {m.group(1)}, {m.group(2)} passed, {m.group(3)} failed\n")
        else:
            print(f"{what}: {why(name) if name in steps else 'not run'}\n")
    print("| benchmark | kiln GPU | peer | peer value | unit | kiln GPU advantage | note |")
    print("| --- | ---: | --- | ---: | --- | ---: | --- |")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


if __name__ == "__main__":
    main()
