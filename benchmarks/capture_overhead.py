"""capture()'s time against the model's own eager forward pass (budget: <= 10% extra).

    python benchmarks/capture_overhead.py              # MiniLM and SmolLM2 at 128 and 512 tokens
    python benchmarks/capture_overhead.py --quick      # 128 tokens only, fewer repeats
    python benchmarks/capture_overhead.py --breakdown  # also where capture()'s extra time goes

What is timed, on the same token ids:
- forward: ``model(**batch, output_attentions=True)`` with eager attention, under no_grad: the
  model computing exactly the weights capture() returns. This is the baseline.
- forward, no weights: the same call without output_attentions (the eager pass a user runs
  anyway); shown for reference.
- capture: ``capture(model, tokenizer, batch)``: the forward above, plus moving the weights to one
  float32 array, token labels, record validation (finite, rows sum to 1, causal check).

- capture's own work: capture() with the model's forward replaced by its cached output, so
  only what capture() adds is timed (no forward whose time other jobs on the machine can
  stretch). Its ratio to the fastest forward is the overhead the budget is about; the
  end-to-end ratio beside it is the same thing measured the noisy way.

Runs are interleaved (forward, capture, forward, ...) so that load from other processes on the
machine falls on both alike. Overhead is capture / forward - 1 on the fastest run of each (the
least disturbed by other processes); the medians are printed beside it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from attnwidgets.capture import capture
from attnwidgets.models import load_model

BUDGET = 0.10
WORDS = (
    "Attention lets a model look back at every word it has read and decide how much each one matters "
    "for the word it is reading now, and the weights it computes are what the course draws. "
).split()


def batch_of(tokenizer, n_tokens: int) -> dict:
    """Token ids of exactly n_tokens (with the tokenizer's own special tokens), and their mask."""
    words, ids = [], []
    while len(ids) < n_tokens:
        words += WORDS
        ids = tokenizer(" ".join(words))["input_ids"]
    encoded = tokenizer(" ".join(words), return_tensors="pt", truncation=True, max_length=n_tokens)
    assert encoded["input_ids"].shape[1] == n_tokens, encoded["input_ids"].shape
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(model, tokenizer, n_tokens: int, repeats: int) -> dict:
    batch = batch_of(tokenizer, n_tokens)

    def forward(weights: bool):
        with torch.no_grad():
            out = model(**batch, output_attentions=weights, return_dict=True)
        if weights:
            assert len(out.attentions) == model.config.num_hidden_layers

    def run_capture():
        record = capture(model, tokenizer, batch)
        assert record.n_queries == n_tokens

    forward(True), run_capture(), forward(False)  # warm-up: allocator, lazy imports, the eager switch
    runs = {"forward": lambda: forward(True), "capture": run_capture, "forward, no weights": lambda: forward(False)}
    times: dict[str, list[float]] = {}
    for _ in range(repeats):
        for key, fn in runs.items():
            times.setdefault(key, []).append(timed(fn))
    # capture() again with the forward replaced by its output: what capture() adds, alone
    with torch.no_grad():
        cached = model(**batch, output_attentions=True, return_dict=True)
    model.forward = lambda *args, **kwargs: cached
    try:
        run_capture()
        for _ in range(repeats):
            times.setdefault("own work", []).append(timed(run_capture))
    finally:
        del model.forward
    return {k: min(v) for k, v in times.items()} | {f"{k}, median": statistics.median(v) for k, v in times.items()}


def breakdown(model, tokenizer, n_tokens: int) -> None:
    """Where capture()'s time goes beyond the forward pass (one profiled run)."""
    import cProfile
    import pstats

    batch = batch_of(tokenizer, n_tokens)
    profile = cProfile.Profile()
    profile.enable()
    capture(model, tokenizer, batch)
    profile.disable()
    stats = pstats.Stats(profile)
    rows = []
    for (path, _, func), (_, _, _, cumulative, _) in stats.stats.items():
        if path.endswith(("capture.py", "record.py")) and func in ("_stack", "_record", "__post_init__", "_check_values", "_self_kind", "_axis_info", "_layer_names", "_encode", "_check_batch"):
            rows.append((cumulative, f"{path.rsplit('/', 1)[-1]}:{func}"))
    for seconds, name in sorted(rows, reverse=True):
        print(f"      {name:<32} {seconds * 1000:8.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="128 tokens only, 3 repeats")
    parser.add_argument("--breakdown", action="store_true", help="profile where capture()'s extra time goes")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--models", nargs="+", default=["minilm", "smollm2"])
    parser.add_argument("--tokens", nargs="+", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = args.tokens or ((128,) if args.quick else (128, 512))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fastest (median) of interleaved runs")
    print(f"{'model':<8} {'tokens':>6} {'forward':>21} {'capture':>21} {'end to end':>17} {'own work':>10} {'overhead':>9} {'fwd, no weights':>16}")
    worst = 0.0
    for name in args.models:
        model, tokenizer = load_model(name)
        for n in sizes:
            repeats = args.repeats or (3 if args.quick else (9 if n <= 128 else 5))
            t = measure(model, tokenizer, n, repeats)
            end_to_end = t["capture"] / t["forward"] - 1
            median = t["capture, median"] / t["forward, median"] - 1
            overhead = t["own work"] / t["forward"]
            worst = max(worst, overhead)
            ms = lambda key: f"{t[key] * 1000:7.1f} ({t[key + ', median'] * 1000:7.1f}) ms"  # noqa: E731
            print(f"{name:<8} {n:>6} {ms('forward'):>21} {ms('capture'):>21} {end_to_end:>+7.1%} ({median:>+6.1%}) {t['own work'] * 1000:>7.1f} ms {overhead:>+8.1%}"
                  f" {t['forward, no weights'] * 1000:>13.1f} ms", flush=True)
            if args.breakdown:
                breakdown(model, tokenizer, n)
        del model
    verdict = "within" if worst <= BUDGET else "OVER"
    print(f"worst overhead {worst:+.1%}: {verdict} the {BUDGET:.0%} budget")
    return 0 if worst <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
