"""Peak memory of capture(): the table of issue 18, one fresh Python process per case.

    python benchmarks/capture_memory.py                  # every case below, as a table
    python benchmarks/capture_memory.py --only smollm2-1024 smollm2-4096-2layers
    python benchmarks/capture_memory.py --load           # load_model("smollm2") alone
    python benchmarks/capture_memory.py --list           # the case names

Each case runs in its own subprocess (so one case's peak is not another's) and reads the
process's peak resident memory, VmHWM from /proc/self/status, at three points: after the imports
(the interpreter with torch and transformers), after load_model(), and after capture() (and the
views, for the case that draws them). "record" is the bytes of the record's weights;
"bound" is what the issue allows for a capture: the peak after load + the record + one layer's
attention (all heads, all queries, float32, as the model computes it), and "peak / bound" says how
close the measured peak came to it.

Cases that would not fit the budget (--budget, default 4 GB: the machine is shared) are refused by
capture() itself before the model runs; the table prints the refusal's first words instead of a
peak. That is the behaviour under test, not a failure of the benchmark.

The numbers depend on the machine only a little (allocator, page size); the time column is
inflated when other jobs share the 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GB = 1e9

# name -> (model, tokens, capture options, draw views)
CASES: dict[str, tuple[str, int, dict, bool]] = {
    "minilm-512": ("minilm", 512, {}, False),
    "smollm2-256": ("smollm2", 256, {}, False),
    "smollm2-512": ("smollm2", 512, {}, False),
    "smollm2-640-views": ("smollm2", 640, {}, True),
    "smollm2-1024": ("smollm2", 1024, {}, False),
    "smollm2-1024-f16": ("smollm2", 1024, {"dtype": "float16"}, False),
    "smollm2-2048": ("smollm2", 2048, {}, False),
    "smollm2-2048-f16": ("smollm2", 2048, {"dtype": "float16"}, False),
    "smollm2-4096": ("smollm2", 4096, {}, False),
    "smollm2-1024-2layers": ("smollm2", 1024, {"layers": [3, 18]}, False),
    "smollm2-4096-2layers": ("smollm2", 4096, {"layers": [3, 18]}, False),
    "smollm2-4096-2layers-f16": ("smollm2", 4096, {"layers": [3, 18], "dtype": "float16"}, False),
    "smollm2-4096-2layers-f16-lean": ("smollm2", 4096, {"layers": [3, 18], "dtype": "float16", "lean": True}, False),
    "smollm2-4096-2layers-3heads-lean": ("smollm2", 4096, {"layers": [3, 18], "heads": [0, 4, 8], "lean": True}, False),
    "smollm2-4096-2layers-3heads-f16-lean": ("smollm2", 4096, {"layers": [3, 18], "heads": [0, 4, 8], "dtype": "float16", "lean": True}, False),
    "smollm2-4096-2layers-f16-lean-bf16model": ("smollm2", 4096, {"layers": [3, 18], "dtype": "float16", "lean": True, "model_dtype": "bfloat16"}, False),
    "smollm2-4096-last-row": ("smollm2", 4096, {"queries": "last"}, False),
    "smollm2-4096-last-row-lean": ("smollm2", 4096, {"queries": "last", "lean": True}, False),
    # what a Binder user gets: capture()'s default budget is the memory left under the container's
    # limit; here that limit (2 GB) is imposed by memory_limit = 2 GB - resident after load
    "smollm2-4096-2layers-3heads-binder": ("smollm2", 4096, {"layers": [3, 18], "heads": [0, 4, 8], "ceiling": 2e9}, False),
    "smollm2-4096-2layers-f16-binder": ("smollm2", 4096, {"layers": [3, 18], "dtype": "float16", "ceiling": 2e9}, False),
}
BEFORE = ["minilm-512", "smollm2-256", "smollm2-512", "smollm2-640-views", "smollm2-1024"]  # what the old code can run here


def peak() -> int:
    """This process's peak resident memory so far, in bytes (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def text_of(tokenizer, n_tokens: int) -> dict:
    """Token ids of exactly n_tokens from a long English text (the model's own tokenizer)."""
    words = ("Attention lets a model look back at every word it has read and decide how much each one "
             "matters for the word it is reading now, and the weights it computes are what the course draws. ").split()
    text = " ".join(words * (n_tokens // len(words) + 2))
    encoded = tokenizer(text, return_tensors="pt", truncation=True, max_length=n_tokens)
    assert encoded["input_ids"].shape[1] == n_tokens, encoded["input_ids"].shape
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


def run_case(name: str, budget: float) -> dict:
    """One case, in this (fresh) process."""
    model_name, n_tokens, options, views = CASES[name]
    import torch

    import attnwidgets as aw

    kwargs = dict(options)
    model_dtype = kwargs.pop("model_dtype", "float32")  # load_model's, not capture's
    ceiling = kwargs.pop("ceiling", None)
    result = {"case": name, "imports": peak()}
    start = time.perf_counter()
    model, tokenizer = aw.load_model(model_name, dtype=model_dtype)
    result["load_s"] = time.perf_counter() - start
    result["load"] = peak()
    config = model.config
    n_heads = config.num_attention_heads
    result["layer"] = n_heads * n_tokens * n_tokens * 4  # one layer's attention as the model computes it
    batch = text_of(tokenizer, n_tokens)
    if ceiling:
        with open("/proc/self/status") as f:
            resident = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        kwargs["memory_limit"] = ceiling - resident
    elif budget:
        kwargs["memory_limit"] = budget
    start = time.perf_counter()
    try:
        record = aw.capture(model, tokenizer, batch, **kwargs)
    except MemoryError as err:
        result["refused"] = str(err)
        return result
    except TypeError as err:  # the code before issue 18 takes no memory_limit
        if "memory_limit" not in str(err) or options:
            raise
        record = aw.capture(model, tokenizer, batch)
    result["capture_s"] = time.perf_counter() - start
    result["record"] = int(record.weights.nbytes)
    result["engine"] = record.meta.get("engine", "eager")
    result["shape"] = list(record.shape)
    result["capture"] = peak()
    if views:
        head, heat = aw.HeadView(record), aw.Heatmap(record)
        head._repr_mimebundle_(), heat._repr_mimebundle_()
        result["views"] = peak()
    del torch
    return result


def child(name: str, budget: float) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", name, "--budget", str(budget)],
                         capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode != 0:
        return {"case": name, "error": (out.stderr.strip().splitlines() or ["exit code %d" % out.returncode])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_case() -> dict:
    import attnwidgets as aw

    result = {"imports": peak()}
    start = time.perf_counter()
    model, _ = aw.load_model("smollm2")
    result["load_s"] = time.perf_counter() - start
    result["load"] = peak()
    result["params"] = sum(p.numel() * p.element_size() for p in model.parameters())
    with open("/proc/self/status") as f:
        result["rss"] = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    return result


def table(names: list[str], budget: float) -> None:
    print(f"peak resident memory of one fresh process per case (VmHWM), budget {budget / GB:.1f} GB; GB = 1e9 bytes")
    print(f"{'case':<36} {'options':<58} {'record':>8} {'after load':>10} {'after capture':>13} {'bound':>7} {'peak/bound':>10} {'time':>7}")
    for name in names:
        model_name, n_tokens, options, views = CASES[name]
        r = child(name, budget)
        opts = ", ".join(f"{k}={v}" for k, v in options.items()) or "all layers, heads, rows; float32"
        if "error" in r:
            print(f"{name:<36} {opts:<58} error: {r['error'][:80]}", flush=True)
            continue
        if "refused" in r:
            print(f"{name:<36} {opts:<58} {'':>8} {r['load'] / GB:>8.2f} GB  refused: {r['refused'][:90]}", flush=True)
            continue
        after = r.get("views", r["capture"])
        bound = r["load"] + r["record"] + r["layer"]
        what = " (+ HeadView, Heatmap)" if views else ""
        engine = "" if r.get("engine", "eager") == "eager" else f" ({r['engine']})"
        print(f"{name:<36} {opts:<58} {r['record'] / 1e6:>5.0f} MB {r['load'] / GB:>7.2f} GB {after / GB:>10.2f} GB {bound / GB:>5.2f} GB {after / bound:>9.2f} {r['capture_s']:>6.1f}s{what}{engine}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(CASES), help="run these cases")
    parser.add_argument("--before", action="store_true", help="only the cases the code before issue 18 can run here")
    parser.add_argument("--budget", type=float, default=4 * GB, help="memory_limit passed to capture(), bytes (0: capture's own estimate)")
    parser.add_argument("--load", action="store_true", help="peak of load_model('smollm2') alone")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(load_case() if args.case == "load" else run_case(args.case, args.budget)))
        return 0
    if args.list:
        print("\n".join(f"{k:<34} {v[0]} {v[1]} tokens {v[2]}" for k, v in CASES.items()))
        return 0
    if args.load:
        r = child("load", 0)
        print(f"load_model('smollm2'): parameters {r['params'] / GB:.2f} GB; peak {r['imports'] / GB:.2f} GB after imports, {r['load'] / GB:.2f} GB after load "
              f"(+{(r['load'] - r['imports']) / GB:.2f} GB); resident after load {r['rss'] / GB:.2f} GB; {r['load_s']:.1f} s")
        return 0
    table(args.only or (BEFORE if args.before else list(CASES)), args.budget)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
