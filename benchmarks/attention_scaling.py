"""Self-attention against a GRU as the text grows: time and peak memory; naive vs tiled attention.

    python benchmarks/attention_scaling.py                  # 64 .. 4096 tokens, d_model 256, 4 heads
    python benchmarks/attention_scaling.py --quick          # 64 .. 1024, fewer repeats
    python benchmarks/attention_scaling.py --rss            # also peak memory as resident-set growth
    python benchmarks/attention_scaling.py --threads 2      # both sides on 2 threads

What is measured (notebook 03 runs a shorter sweep of the same code, attnwidgets.course.scratch):

- one forward pass, batch 1, no grad, of (a) our multi-head self-attention, which materialises
  the (n x n) weights of every head (impl="naive"), (b) the same layer calling torch's fused
  scaled_dot_product_attention (impl="sdpa"), (c) torch.nn.GRU with the same width;
- time: the fastest of --repeats runs after one warm-up, on --threads threads (default 1, so
  neither side gets more cores; the machine is shared, the fastest run is the least disturbed);
- peak memory: every allocation and free torch's CPU allocator makes during the call, read from
  torch's profiler (profile_memory=True), summed in time order; the maximum above the start
  (inputs and weights, allocated before, are not counted; the output is). tracemalloc cannot see
  these allocations. With --rss, a cross-check: each (model, n) runs in a fresh process whose peak
  resident set is reset just before the call (Linux: /proc/self/clear_refs); how far the peak
  (VmHWM) rises above the resident set at that moment is printed beside it;
- crossovers: where attention's time or memory first reaches the GRU's, log-interpolated between
  the measured lengths;
- tiled vs naive: peak memory of attention on (1, heads, n, 64) tensors computed with the (n x n)
  scores (naive) and tile by tile with an online softmax (tiled, --block), and their largest
  output difference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch

from attnwidgets.course import scratch

DEFAULT_LENGTHS = [64, 128, 256, 512, 1024, 2048, 4096]
QUICK_LENGTHS = [64, 128, 256, 512, 1024]


def worker(what: str, n: int, d_model: int, n_head: int, block: int, threads: int) -> int:
    """Peak resident-set growth (bytes) of one call, measured inside this fresh process."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if what in scratch.MODELS:
        net = scratch.MODELS[what](d_model, n_head).eval()
        small, x = torch.randn(1, 16, d_model), torch.randn(1, n, d_model)
        call, warm = (lambda: net(x)), (lambda: net(small))
    else:  # "core naive" / "core tiled": attention alone on (1, heads, n, 64)
        q, k, v = (torch.randn(1, n_head, n, 64) for _ in range(3))
        qs, ks, vs = (t[..., :16, :].clone() for t in (q, k, v))
        fn = (lambda a, b, c: scratch.scaled_dot_product_attention(a, b, c)[0]) if what == "core naive" else (lambda a, b, c: scratch.tiled_attention(a, b, c, block=block))
        call, warm = (lambda: fn(q, k, v)), (lambda: fn(qs, ks, vs))
    with torch.no_grad():
        warm()  # kernels and thread pools set up before the baseline
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Linux: reset the peak resident set (VmHWM) to the current one
        before = _status_bytes("VmRSS")
        out = call()
        after = _status_bytes("VmHWM")
    del out
    return after - before


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status (the --rss cross-check needs Linux)")


def rss_growth(what: str, n: int, args: argparse.Namespace) -> int:
    cmd = [sys.executable, __file__, "--worker", what, str(n), "--d-model", str(args.d_model), "--heads", str(args.heads),
           "--block", str(args.block), "--threads", str(args.threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return int(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", help=f"sequence lengths (default {DEFAULT_LENGTHS})")
    parser.add_argument("--tiled-lengths", type=int, nargs="+", help="lengths for naive vs tiled (default: the same, from 256)")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--block", type=int, default=128, help="tile size of the tiled attention")
    parser.add_argument("--quick", action="store_true", help=f"lengths {QUICK_LENGTHS}, 2 repeats")
    parser.add_argument("--rss", action="store_true", help="cross-check peak memory by resident-set growth in fresh processes")
    parser.add_argument("--json", help="also write every number to this file")
    parser.add_argument("--worker", nargs=2, metavar=("WHAT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(worker(args.worker[0], int(args.worker[1]), args.d_model, args.heads, args.block, args.threads))
        return 0

    lengths = args.lengths or (QUICK_LENGTHS if args.quick else DEFAULT_LENGTHS)
    repeats = 2 if args.quick and args.repeats == 3 else args.repeats
    tiled_lengths = args.tiled_lengths or [n for n in lengths if n >= 256]
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {load:.1f} (other jobs inflate times), {args.threads} torch thread(s)")
    print()

    start = time.perf_counter()
    result = scratch.scaling_sweep(lengths, d_model=args.d_model, n_head=args.heads, repeats=repeats, threads=args.threads, progress=True)
    print()
    print(result.table())
    print()
    print("crossovers with the GRU")
    print(result.summary())
    for model in result.seconds:
        if model != "GRU":
            ratios = ", ".join(f"{n}: {r:.2f}x" for n, r in zip(result.lengths, result.ratio(model)))
            print(f"  {model} time / GRU time: {ratios}")
    print(f"(sweep took {time.perf_counter() - start:.0f} s)")

    rss = {}
    if args.rss:
        print()
        print("cross-check: peak resident-set growth of one call in a fresh process, MB (profiler figure in brackets)")
        names = list(result.seconds)
        print(f"{'n':>6} | " + " | ".join(f"{m[:24]:>30}" for m in names))
        for i, n in enumerate(lengths):
            cells = []
            for m in names:
                rss[(m, n)] = rss_growth(m, n, args)
                cells.append(f"{rss[(m, n)] / 1e6:>20.2f} ({result.peak_bytes[m][i] / 1e6:>7.2f})")
            print(f"{n:>6} | " + " | ".join(cells), flush=True)

    print()
    print(f"naive vs tiled attention, 1 x {args.heads} heads x n x 64, block {args.block}, {args.threads} thread(s): peak memory (profiler)")
    rows = scratch.tiled_memory_sweep(tiled_lengths, n_head=args.heads, head_size=64, block=args.block)
    print(scratch.tiled_table(rows, args.block))
    if args.rss:
        print("cross-check, resident-set growth in a fresh process, MB:")
        for r in rows:
            r["naive_rss"], r["tiled_rss"] = rss_growth("core naive", r["n"], args), rss_growth("core tiled", r["n"], args)
            print(f"{r['n']:>6} | naive {r['naive_rss'] / 1e6:>9.2f} | tiled {r['tiled_rss'] / 1e6:>9.2f}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_average": load, "scaling": {"lengths": result.lengths, "d_model": result.d_model, "n_head": result.n_head,
                                                         "threads": result.threads, "repeats": result.repeats, "seconds": result.seconds,
                                                         "peak_bytes": result.peak_bytes,
                                                         "crossovers": {m: {"time": result.crossover(m), "memory": result.crossover(m, what="peak_bytes")}
                                                                        for m in result.seconds if m != "GRU"},
                                                         "rss_bytes": {f"{m} @ {n}": b for (m, n), b in rss.items()}},
                       "tiled": rows}, f, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
