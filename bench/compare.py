#!/usr/bin/python3
"""Side-by-side benchmark of shannon, NumPy/SciPy and PyTorch (issue 5).

In one run, on the same arrays: the machine's streaming-read and
read-modify-write bandwidth (shannon_bandwidth), then for each case the best
wall time of shannon (Python module, arrays passed without copies, check=True),
SciPy/NumPy (single-threaded, as they are) and PyTorch CPU (all cores). Prints
a table of times and ratios with the issue's targets marked met / NOT met, and
writes the figures as JSON.

Cases: entropy, cross entropy and KL divergence over 1e8 float32 and 5e7
float64 (400 MB per array); the cross-entropy loss of logits, forward and
forward+backward, on [4096, 32768] and [65536, 1000] float32.

Floors: a measure or a loss forward reads its inputs once, so its floor is
bytes read / read bandwidth; a loss forward+backward reads the logits and
writes the gradient, so its floor is (bytes read + bytes written) /
read-modify-write bandwidth.

Usually run by scripts/bench.sh, which builds what this needs; directly:
    PYTHONPATH=build-bench/python /usr/bin/python3 bench/compare.py --build build-bench
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent

# ---- targets of issue 5 -----------------------------------------------------------

# kind -> (max shannon/floor, min torch/shannon, min scipy/shannon or None)
TARGETS = {
    "measure": (1.5, 10.0, 15.0),
    "loss forward": (2.0, 8.0, None),
    "loss forward+backward": (2.5, 10.0, None),
}

# ---- helpers ------------------------------------------------------------------------


def log(msg: str = "") -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=Path, default=None,
                    help="build directory with bin/shannon_bandwidth and python/ "
                         "(default: build-bench, else build)")
    ap.add_argument("--json", type=Path, default=None,
                    help="where to write the results (default: <build>/bench-compare.json)")
    ap.add_argument("--reps", type=int, default=5, help="timed runs of PyTorch per formulation (default 5)")
    ap.add_argument("--shannon-reps", type=int, default=7, help="timed runs of shannon (default 7)")
    ap.add_argument("--scipy-reps", type=int, default=3,
                    help="timed runs of the fastest SciPy formulation, screening run included (default 3)")
    ap.add_argument("--only", default="measures,loss",
                    help="comma-separated sections: measures, loss (default both)")
    ap.add_argument("--quick", action="store_true",
                    help="1/10 of the sizes, fewer runs: a smoke test, not a measurement")
    ap.add_argument("--wait-quiet", type=float, default=None, metavar="PCT",
                    help="first wait (up to --wait-max s) until other processes use less than PCT%% "
                         "of the cores over 10 s")
    ap.add_argument("--wait-max", type=float, default=900.0, metavar="S")
    ap.add_argument("--bandwidth-mb", type=float, default=1024.0,
                    help="buffer of shannon_bandwidth in MB (default 1024; L3 is tens of MB)")
    return ap.parse_args()


def best_of(fn: Callable[[], Any], reps: int) -> tuple[float, Any, list[float]]:
    """Best wall time of `reps` calls of fn (seconds), the last result, every time."""
    times = []
    result = None
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result, times


def accurate(value: Any, ref: float | None, tol: float) -> bool:
    return ref is None or rel_diff(float(value), ref) <= tol


def pick(candidates: dict[str, Callable[[], Any]], reps: int, ref: float | None, tol: float,
         screen: bool) -> dict[str, Any]:
    """The fastest formulation whose value is within `tol` (relative) of `ref`.

    screen=False runs every formulation `reps` times; screen=True (slow SciPy cases) runs
    each once, then the fastest accurate one reps - 1 more times. A formulation that is
    off by more than tol is reported but not chosen (unless none is accurate).
    """
    first = {}
    for name, fn in candidates.items():
        t, r, times = best_of(fn, 1 if screen else reps)
        first[name] = {"seconds": t, "value": float(r), "times": times}
        gc.collect()
    ok = [k for k in first if accurate(first[k]["value"], ref, tol)] or list(first)
    name = min(ok, key=lambda k: first[k]["seconds"])
    chosen = first[name]
    if screen and reps > 1:
        t, r, times = best_of(candidates[name], reps - 1)
        chosen = {"seconds": min(t, chosen["seconds"]), "value": float(r),
                  "times": chosen["times"] + times}
    return {
        "formulation": name,
        **chosen,
        "candidates": {k: v["seconds"] for k, v in first.items()},
        "inaccurate": {k: rel_diff(v["value"], ref) for k, v in first.items()
                       if not accurate(v["value"], ref, tol)},
    }


def lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    info = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            info[k.strip()] = v.strip()
    return info


def mem_available_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return float("nan")


def wait_until_quiet(pct: float, max_wait: float) -> None:
    start = time.time()
    while True:
        snap = cpu_snapshot()
        time.sleep(10)
        busy = 100 * others_cpu(snap)
        if busy < pct:
            log(f"  other processes used {busy:.0f}% of the cores over 10 s: starting")
            return
        if time.time() - start > max_wait:
            log(f"  other processes still use {busy:.0f}% of the cores; starting anyway")
            return
        log(f"  other processes used {busy:.0f}% of the cores over 10 s (>= {pct:g}%): waiting")


def cpu_snapshot() -> tuple[float, float, float]:
    """(wall s, CPU s used by every process of the machine, CPU s used by this one and its children)."""
    busy = float("nan")
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...: all but idle and iowait
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return time.perf_counter(), busy, t.user + t.system + t.children_user + t.children_system


def others_cpu(since: tuple[float, float, float]) -> float:
    """The share of all cores that other processes used since the snapshot (0 = quiet machine)."""
    wall, busy, own = (b - a for a, b in zip(since, cpu_snapshot()))
    return max(0.0, (busy - own) / (wall * (os.cpu_count() or 1)))


def bandwidth(exe: Path, mb: float, runs: int) -> dict[str, Any]:
    out = subprocess.run([str(exe), "--mb", str(mb), "--runs", str(runs)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def fmt_ms(s: float | None) -> str:
    return "-" if s is None else (f"{s * 1e3:.1f}" if s * 1e3 < 1000 else f"{s * 1e3:.0f}")


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None or not math.isfinite(r) else f"{r:.2f}"


def rel_diff(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


# ---- the cases ------------------------------------------------------------------------


def distribution(rng, n: int, dtype) -> Any:
    """n values uniform in (0, 1], divided by their sum: a valid probability vector."""
    import numpy as np

    p = rng.random(n, dtype=dtype)
    np.subtract(dtype(1), p, out=p)  # (0, 1]: no zeros, so no infinite KL
    p /= p.sum(dtype=np.float64).astype(dtype)
    return p


def measure_cases(args, np, sp, torch, shannon, results: list[dict[str, Any]]) -> None:
    import scipy.special
    import scipy.stats
    import torch.nn.functional as F

    scale = 10 if args.quick else 1
    sizes = [(np.float32, 100_000_000 // scale, "1e8"), (np.float64, 50_000_000 // scale, "5e7")]
    rng = np.random.default_rng(20240501)
    for dtype, n, label in sizes:
        dname = np.dtype(dtype).name
        log(f"== measures, {dname} n={n:,}: generating p, q")
        p = distribution(rng, n, dtype)
        q = distribution(rng, n, dtype)
        pt, qt = torch.from_numpy(p), torch.from_numpy(q)  # shared memory, no copy
        item = np.dtype(dtype).itemsize

        cases = [
            ("entropy", n * item,
             lambda: shannon.entropy(p, base="e"),
             {"scipy.special.entr(p).sum()": lambda: float(scipy.special.entr(p).sum()),
              "scipy.stats.entropy(p)": lambda: float(scipy.stats.entropy(p))},
             {"torch.special.entr(p).sum()": lambda: float(torch.special.entr(pt).sum()),
              "-torch.special.xlogy(p, p).sum()": lambda: float(-torch.special.xlogy(pt, pt).sum())}),
            ("cross_entropy", 2 * n * item,
             lambda: shannon.cross_entropy(p, q, base="e"),
             {"-(p * np.log(q)).sum()": lambda: float(-(p * np.log(q)).sum()),
              "-scipy.special.xlogy(p, q).sum()": lambda: float(-scipy.special.xlogy(p, q).sum()),
              "-np.dot(p, np.log(q))": lambda: float(-np.dot(p, np.log(q)))},
             {"-(p * q.log()).sum()": lambda: float(-(pt * qt.log()).sum()),
              "-torch.special.xlogy(p, q).sum()": lambda: float(-torch.special.xlogy(pt, qt).sum()),
              "-torch.dot(p, q.log())": lambda: float(-torch.dot(pt, qt.log()))}),
            ("kl_divergence", 2 * n * item,
             lambda: shannon.kl_divergence(p, q, base="e"),
             {"scipy.special.rel_entr(p, q).sum()": lambda: float(scipy.special.rel_entr(p, q).sum()),
              "scipy.stats.entropy(p, q)": lambda: float(scipy.stats.entropy(p, q))},
             {"F.kl_div(q.log(), p, reduction='sum')":
                  lambda: float(F.kl_div(qt.log(), pt, reduction="sum")),
              "(p * (p / q).log()).sum()": lambda: float((pt * (pt / qt).log()).sum())}),
        ]
        for name, nbytes, sh_fn, sp_fns, th_fns in cases:
            snap = cpu_snapshot()
            log(f"   {name}: shannon")
            sh_fn()  # warm-up (threads, pages of the module)
            sh_t, sh_v, sh_times = best_of(sh_fn, args.shannon_reps)
            log(f"   {name}: PyTorch")
            tol = 1e-4 if dtype == np.float32 else 1e-9
            th = pick(th_fns, args.reps, float(sh_v), tol, screen=False)
            log(f"   {name}: SciPy/NumPy")
            sc = pick(sp_fns, args.scipy_reps, float(sh_v), tol, screen=True)
            results.append({
                "case": f"{name} {dname} n={label if not args.quick else n}",
                "kind": "measure", "dtype": dname, "shape": [n],
                "bytes_read": nbytes, "bytes_written": 0, "floor": "read",
                "shannon": {"seconds": sh_t, "times": sh_times, "value": float(sh_v),
                            "call": f"shannon.{name}(p{', q' if name != 'entropy' else ''}, base='e')"},
                "torch": th, "scipy": sc, "others_cpu": others_cpu(snap),
                "agreement": {"torch": rel_diff(float(sh_v), float(th["value"])),
                              "scipy": rel_diff(float(sh_v), float(sc["value"]))},
            })
            gc.collect()
        del p, q, pt, qt, cases
        gc.collect()


def loss_available(np, shannon) -> str | None:
    """None when the batched cross_entropy_loss works, else why not."""
    if not hasattr(shannon, "cross_entropy_loss"):
        return "the shannon module has no cross_entropy_loss"
    try:
        x = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]], dtype=np.float32)
        loss, grad = shannon.cross_entropy_loss(x, np.array([2, 0]), return_grad=True)
        if grad is None or grad.shape != x.shape or not math.isfinite(loss):
            return "shannon.cross_entropy_loss(..., return_grad=True) returned no usable gradient"
    except Exception as e:  # not built yet, not implemented
        return f"shannon.cross_entropy_loss of logits fails: {type(e).__name__}: {e}"
    return None


def loss_cases(args, np, sp, torch, shannon, results: list[dict[str, Any]]) -> None:
    import scipy.special
    import torch.nn.functional as F

    shapes = [(4096, 32768), (65536, 1000)]
    if args.quick:
        shapes = [(409, 32768), (6553, 1000)]
    rng = np.random.default_rng(20240502)
    for rows, cols in shapes:
        log(f"== cross-entropy loss [{rows}, {cols}] float32: generating logits")
        x = rng.standard_normal((rows, cols), dtype=np.float32)
        x *= 2
        t = rng.integers(0, cols, rows, dtype=np.int64)
        xt, tt = torch.from_numpy(x), torch.from_numpy(t)
        idx = np.arange(rows)
        logits_bytes = rows * cols * 4
        target_bytes = rows * 8

        # forward
        snap = cpu_snapshot()
        log("   forward: shannon")
        sh_fn = lambda: shannon.cross_entropy_loss(x, t)  # noqa: E731
        sh_fn()
        sh_t, sh_v, sh_times = best_of(sh_fn, args.shannon_reps)

        def torch_forward():
            with torch.no_grad():
                return float(F.cross_entropy(xt, tt))

        log("   forward: PyTorch")
        th = pick({"F.cross_entropy(x, t) under no_grad": torch_forward}, args.reps,
                  float(sh_v), 1e-4, screen=False)
        log("   forward: SciPy/NumPy")
        sc = pick({"-scipy.special.log_softmax(x, axis=1)[arange(N), t].mean()":
                   lambda: float(-scipy.special.log_softmax(x, axis=1)[idx, t].mean())},
                  max(1, args.scipy_reps - 1), float(sh_v), 1e-4, screen=True)
        results.append({
            "case": f"CE loss fwd [{rows},{cols}] f32", "kind": "loss forward",
            "dtype": "float32", "shape": [rows, cols],
            "bytes_read": logits_bytes + target_bytes, "bytes_written": 0, "floor": "read",
            "shannon": {"seconds": sh_t, "times": sh_times, "value": float(sh_v),
                        "call": "shannon.cross_entropy_loss(x, t)"},
            "torch": th, "scipy": sc, "others_cpu": others_cpu(snap),
            "agreement": {"torch": rel_diff(float(sh_v), th["value"]),
                          "scipy": rel_diff(float(sh_v), sc["value"])},
        })
        gc.collect()

        # forward + backward: a fresh gradient array per call on each side
        snap = cpu_snapshot()
        log("   forward+backward: shannon")
        sh_fn = lambda: shannon.cross_entropy_loss(x, t, return_grad=True)  # noqa: E731
        sh_fn()
        sh_t, (sh_v, sh_g), sh_times = best_of(sh_fn, args.shannon_reps)

        xg = torch.from_numpy(x).requires_grad_(True)

        def torch_fwd_bwd():
            xg.grad = None
            loss = F.cross_entropy(xg, tt)
            loss.backward()
            return float(loss)

        log("   forward+backward: PyTorch")
        th = pick({"F.cross_entropy(x, t).backward(), x.requires_grad": torch_fwd_bwd}, args.reps,
                  float(sh_v), 1e-4, screen=False)
        grad_diff = float(np.max(np.abs(sh_g - xg.grad.numpy())))
        del sh_g
        xg.grad = None

        def numpy_fwd_bwd():
            g = scipy.special.softmax(x, axis=1)
            loss = -np.log(g[idx, t]).mean()
            g[idx, t] -= 1
            g /= rows
            return float(loss)

        log("   forward+backward: SciPy/NumPy")
        sc = pick({"g = scipy.special.softmax(x, axis=1); g[arange(N), t] -= 1; g /= N":
                   numpy_fwd_bwd}, max(1, args.scipy_reps - 1), float(sh_v), 1e-4, screen=True)
        results.append({
            "case": f"CE loss fwd+bwd [{rows},{cols}] f32", "kind": "loss forward+backward",
            "dtype": "float32", "shape": [rows, cols],
            "bytes_read": logits_bytes + target_bytes, "bytes_written": logits_bytes, "floor": "rmw",
            "shannon": {"seconds": sh_t, "times": sh_times, "value": float(sh_v),
                        "call": "shannon.cross_entropy_loss(x, t, return_grad=True)"},
            "torch": th, "scipy": sc, "others_cpu": others_cpu(snap),
            "agreement": {"torch": rel_diff(float(sh_v), th["value"]),
                          "scipy": rel_diff(float(sh_v), sc["value"]),
                          "grad_max_abs_diff_vs_torch": grad_diff},
        })
        del x, t, xt, tt, xg
        gc.collect()


# ---- report ----------------------------------------------------------------------------


def finish(results: list[dict[str, Any]], bw: dict[str, float]) -> None:
    for r in results:
        gbps = bw["read_GBps"] if r["floor"] == "read" else bw["rmw_GBps"]
        r["floor_seconds"] = (r["bytes_read"] + r["bytes_written"]) / (gbps * 1e9)
        sh = r["shannon"]["seconds"]
        r["ratios"] = {
            "shannon/floor": sh / r["floor_seconds"],
            "torch/shannon": r["torch"]["seconds"] / sh,
            "scipy/shannon": r["scipy"]["seconds"] / sh,
        }
        max_floor, min_torch, min_scipy = TARGETS[r["kind"]]
        t = {
            f"shannon/floor <= {max_floor}": r["ratios"]["shannon/floor"] <= max_floor,
            f"torch/shannon >= {min_torch}": r["ratios"]["torch/shannon"] >= min_torch,
        }
        if min_scipy is not None:
            t[f"scipy/shannon >= {min_scipy}"] = r["ratios"]["scipy/shannon"] >= min_scipy
        r["targets"] = t


def table(results: list[dict[str, Any]], bw: dict[str, float]) -> str:
    head = ["case", "MB", "floor ms", "shannon ms", "torch ms", "scipy ms",
            "shannon/floor", "torch/shannon", "scipy/shannon", "others", "targets"]
    rows = []
    for r in results:
        mb = (r["bytes_read"] + r["bytes_written"]) / 1e6
        marks = []
        for key, ok in r["targets"].items():
            short = key.split()[0].split("/")[0] if "floor" not in key else "floor"
            marks.append(f"{short} {'met' if ok else 'NOT met'}")
        rows.append([
            r["case"], f"{mb:.0f}" + (" rmw" if r["floor"] == "rmw" else ""),
            fmt_ms(r["floor_seconds"]), fmt_ms(r["shannon"]["seconds"]),
            fmt_ms(r["torch"]["seconds"]), fmt_ms(r["scipy"]["seconds"]),
            fmt_ratio(r["ratios"]["shannon/floor"]), fmt_ratio(r["ratios"]["torch/shannon"]),
            fmt_ratio(r["ratios"]["scipy/shannon"]), f"{100 * r['others_cpu']:.0f}%", ", ".join(marks),
        ])
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    aligned_left = {0, 10}

    def line(cells):
        return "| " + " | ".join(
            c.ljust(w) if i in aligned_left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ) + " |"

    out = [line(head), "|" + "|".join(("-" * (w + 2)) for w in widths) + "|"]
    out += [line(row) for row in rows]
    return "\n".join(out)


def main() -> int:
    args = parse_args()
    if args.quick:
        args.reps, args.shannon_reps, args.scipy_reps = 2, 3, 1
    build = args.build
    if build is None:
        build = next((ROOT / d for d in ("build-bench", "build") if (ROOT / d / "python").is_dir()),
                     ROOT / "build-bench")
    build = build.resolve()
    exe = build / "bin" / "shannon_bandwidth"
    if not exe.exists():
        log(f"error: {exe} is missing: run scripts/bench.sh (or cmake --build {build} "
            "--target shannon_bandwidth)")
        return 2
    sys.path.insert(0, str(build / "python"))
    try:
        import shannon
    except ImportError as e:
        log(f"error: cannot import the shannon module from {build / 'python'}: {e}\n"
            f"       build it: cmake --build {build} --target _shannon")
        return 2
    import numpy as np
    import scipy
    import torch

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)  # Debian's torch starts with 1 thread here
    sections = {s.strip() for s in args.only.split(",") if s.strip()}

    if args.wait_quiet is not None:
        wait_until_quiet(args.wait_quiet, args.wait_max)

    run_snap = cpu_snapshot()
    cpu = lscpu()
    env = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).as_posix()] + sys.argv),
        "cpu": cpu.get("Model name", platform.processor()),
        "cores": cores,
        "l2": cpu.get("L2 cache", "?"), "l3": cpu.get("L3 cache", "?"),
        "load_start": os.getloadavg(),
        "mem_available_gb": mem_available_gb(),
        "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "shannon": shannon.version(), "shannon_isa": shannon.active_isa(),
        "shannon_threads": os.environ.get("OMP_NUM_THREADS", f"all ({cores})"),
    }
    log(f"shannon {env['shannon']} ({env['shannon_isa']}), numpy {env['numpy']}, scipy {env['scipy']}, "
        f"torch {env['torch']} ({env['torch_threads']} threads); {env['cpu']}, {cores} cores, "
        f"L2 {env['l2']}, L3 {env['l3']}; load {env['load_start'][0]:.2f}; "
        f"{env['mem_available_gb']:.1f} GB available")
    if env["mem_available_gb"] < 6:
        log("warning: less than 6 GB available; the large cases need about 4 GB")

    log("== bandwidth (shannon_bandwidth)")
    bw_runs = 3 if args.quick else 7
    bw_start = bandwidth(exe, args.bandwidth_mb, bw_runs)
    log(f"   read {bw_start['read_GBps']:.1f} GB/s, rmw {bw_start['rmw_GBps']:.1f} GB/s")

    results: list[dict[str, Any]] = []
    notes = ["byte entropy: not applicable yet, the CLI does not read files as bytes"]
    if "measures" in sections:
        measure_cases(args, np, scipy, torch, shannon, results)
    if "loss" in sections:
        why = loss_available(np, shannon)
        if why is None:
            loss_cases(args, np, scipy, torch, shannon, results)
        else:
            notes.append(f"cross-entropy loss cases skipped: {why}")
            log(f"   skipped the loss cases: {why}")

    log("== bandwidth again")
    bw_end = bandwidth(exe, args.bandwidth_mb, bw_runs)
    # The floor is the best the machine did in this run: the stricter of the two.
    bw = {"read_GBps": max(bw_start["read_GBps"], bw_end["read_GBps"]),
          "rmw_GBps": max(bw_start["rmw_GBps"], bw_end["rmw_GBps"])}
    env["load_end"] = os.getloadavg()
    env["others_cpu"] = others_cpu(run_snap)
    finish(results, bw)

    print(f"# shannon vs NumPy/SciPy vs PyTorch, {env['date']}")
    print(f"# {env['cpu']}, {cores} cores, L2 {env['l2']}, L3 {env['l3']}; load average "
          f"{env['load_start'][0]:.2f} at start, {env['load_end'][0]:.2f} at end; other processes used "
          f"{100 * env['others_cpu']:.0f}% of the cores during the run (column 'others': during the case)")
    print(f"# shannon {env['shannon']} ({env['shannon_isa']}, OpenMP {env['shannon_threads']} threads), "
          f"PyTorch {env['torch']} ({env['torch_threads']} threads), NumPy {env['numpy']}, "
          f"SciPy {env['scipy']} (1 thread)")
    print(f"# floor bandwidth: read {bw['read_GBps']:.1f} GB/s, read-modify-write {bw['rmw_GBps']:.1f} GB/s "
          f"(shannon_bandwidth, {bw_start['buffer_bytes'] / 1e6:.0f} MB, best of start "
          f"{bw_start['read_GBps']:.1f}/{bw_start['rmw_GBps']:.1f} and end "
          f"{bw_end['read_GBps']:.1f}/{bw_end['rmw_GBps']:.1f}); times are best of "
          f"{args.shannon_reps} (shannon), {args.reps} (torch), {args.scipy_reps} (scipy)")
    print()
    print(table(results, bw))
    print()
    if results:
        print("Formulations (the fastest of those tried is reported):")
        for r in results:
            for lib in ("torch", "scipy"):
                bad = r[lib]["inaccurate"]
                tried = ", ".join(f"{k} {v * 1e3:.0f} ms" + (f" (off by {bad[k]:.1e}, not chosen)" if k in bad else "")
                                  for k, v in r[lib]["candidates"].items())
                print(f"  {r['case']:<34} {lib:<6} {r[lib]['formulation']}   [tried: {tried}]")
        worst = max((max(v for k, v in r["agreement"].items() if k in ("torch", "scipy"))
                     for r in results), default=0.0)
        print(f"Agreement: largest relative difference of a value from shannon's: {worst:.1e}")
        met = sum(ok for r in results for ok in r["targets"].values())
        total = sum(len(r["targets"]) for r in results)
        print(f"Targets met: {met} of {total}")
    for n in notes:
        print(f"Note: {n}")

    out = args.json or (build / "bench-compare.json")
    out.write_text(json.dumps({"environment": env, "bandwidth": {"start": bw_start, "end": bw_end, "floor": bw},
                               "targets": {k: {"max shannon/floor": v[0], "min torch/shannon": v[1],
                                               "min scipy/shannon": v[2]} for k, v in TARGETS.items()},
                               "results": results, "notes": notes}, indent=1, default=float))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
