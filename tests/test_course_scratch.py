"""Notebook 03's teaching code (attnwidgets.course.scratch): attention from scratch equals torch's,
masks, positions, the tiled online-softmax attention, the measuring tools and the exercise checks."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attnwidgets import capture
from attnwidgets.course import scratch as S

TOL = 1e-5  # float32 parity with torch's implementations


def maxdiff(a, b):
    return float((a - b).abs().max())


@pytest.fixture
def qkv():
    g = torch.Generator().manual_seed(0)
    return tuple(torch.randn(2, 4, 37, 16, generator=g) for _ in range(3))


# ---- masks -------------------------------------------------------------------------------------


def test_masks():
    assert S.causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert S.causal_mask(2, 4).tolist() == [[True, False, False, False], [True, True, False, False]]  # top-left, as torch's is_causal
    assert S.padding_mask([3, 1], 4).tolist() == [[True, True, True, False], [True, False, False, False]]
    with pytest.raises(ValueError, match="between 0 and 4"):
        S.padding_mask([5], 4)


# ---- scaled dot-product attention ------------------------------------------------------------------


def test_sdpa_equals_torch_with_masks(qkv):
    q, k, v = qkv
    g = torch.Generator().manual_seed(1)
    keep = torch.rand(2, 1, 37, 37, generator=g) > 0.5
    keep[..., 0] = True  # no empty row here (those are tested below)
    for mask, causal in ((None, False), (None, True), (keep, False), (keep[0, 0], False)):
        ours, att = S.scaled_dot_product_attention(q, k, v, mask, causal)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        assert maxdiff(ours, ref) <= TOL
        assert torch.allclose(att.sum(-1), torch.ones(2, 4, 37), atol=1e-6)
        if causal:
            assert float(att.triu(1).abs().max()) == 0.0
        if mask is not None:
            assert float(att.masked_select(~mask.expand_as(att)).abs().max()) == 0.0
    # padding and causal together, as a decoder over a padded batch sees them
    both = keep & S.causal_mask(37)
    assert maxdiff(S.scaled_dot_product_attention(q, k, v, keep, causal=True)[0], F.scaled_dot_product_attention(q, k, v, attn_mask=both)) <= TOL
    # queries and keys of different lengths (cross-attention shaped)
    assert maxdiff(S.scaled_dot_product_attention(q[..., :5, :], k, v)[0], F.scaled_dot_product_attention(q[..., :5, :], k, v)) <= TOL


def test_fully_masked_row_gives_zeros_not_nan(qkv):
    q, k, v = qkv
    keep = torch.ones(37, 37, dtype=torch.bool)
    keep[4] = False  # query 4 may see nothing
    out, att = S.scaled_dot_product_attention(q, k, v, keep)
    assert not torch.isnan(out).any() and not torch.isnan(att).any()
    assert float(out[..., 4, :].abs().max()) == 0.0 and float(att[..., 4, :].abs().max()) == 0.0
    assert maxdiff(out, F.scaled_dot_product_attention(q, k, v, attn_mask=keep)) <= TOL  # torch's SDPA agrees
    # torch.nn.MultiheadAttention does not: it gives NaN there (why the module documents its choice)
    mha = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval()
    x = torch.randn(1, 37, 16)
    with torch.no_grad():
        y_torch, _ = mha(x, x, x, attn_mask=~keep)
        y_ours, _ = S.MultiHeadSelfAttention.from_torch(mha)(x, mask=keep)
    assert torch.isnan(y_torch[0, 4]).all() and not torch.isnan(y_ours).any()
    assert maxdiff(y_ours[0, :4], y_torch[0, :4]) <= TOL


def test_bad_inputs(qkv):
    q, k, v = qkv
    with pytest.raises(TypeError, match="bool"):
        S.scaled_dot_product_attention(q, k, v, mask=torch.ones(37, 37))
    with pytest.raises(ValueError, match="same feature size"):
        S.scaled_dot_product_attention(q, k[..., :8], v)
    with pytest.raises(ValueError, match="multiple of n_head"):
        S.MultiHeadSelfAttention(10, 3)
    with pytest.raises(ValueError, match="impl"):
        S.MultiHeadSelfAttention(8, 2, impl="flash")
    with pytest.raises(ValueError, match=r"\(batch, tokens, 8\)"):
        S.MultiHeadSelfAttention(8, 2)(torch.randn(2, 3, 5))


# ---- multi-head self-attention -------------------------------------------------------------------


def test_multihead_equals_torch_multiheadattention():
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(64, 4, batch_first=True).eval()
    x = torch.randn(3, 11, 64)
    pad = S.padding_mask([11, 7, 4], 11)
    cases = {
        "none": ({}, {}),
        "padding": ({"padding": pad}, {"key_padding_mask": ~pad}),  # torch's masks say True = BLOCK
        "causal": ({"causal": True}, {"attn_mask": ~S.causal_mask(11)}),
        "padding + causal": ({"padding": pad, "causal": True}, {"key_padding_mask": ~pad, "attn_mask": ~S.causal_mask(11)}),
    }
    for impl in S.IMPLEMENTATIONS:
        ours = S.MultiHeadSelfAttention.from_torch(mha, impl=impl).eval()
        ours.block = 4  # several tiles, one partial
        for name, (our_kw, torch_kw) in cases.items():
            with torch.no_grad():
                y_ref, w_ref = mha(x, x, x, need_weights=True, average_attn_weights=False, **torch_kw)
                y, w = ours(x, **our_kw)
            assert maxdiff(y, y_ref) <= TOL, (impl, name)
            if impl == "naive":
                assert w.shape == (3, 4, 11, 11) and maxdiff(w, w_ref) <= TOL, name
            else:
                assert w is None


def test_our_layer_with_minilm_weights_equals_minilm(minilm):
    model, tokenizer = minilm
    text = "The animal didn't cross the street because it was too tired."
    record = capture(model, tokenizer, text)
    x, tokens, real = S.bert_inputs(model, tokenizer, text)
    layer = S.MultiHeadSelfAttention.from_bert(model.encoder.layer[0].attention, model.config.num_attention_heads)
    with torch.no_grad():
        _, att = layer(x, padding=real)
    assert tuple(tokens) == record.query_tokens
    assert float(np.abs(att[0].numpy() - record.weights[0]).max()) <= TOL


def test_mask_records_and_explorer(minilm):
    model, tokenizer = minilm
    records = S.mask_records(model, tokenizer, "the dog bit the man", pad=3)
    assert list(records) == list(S.MASKS)
    for name, rec in records.items():
        assert rec.shape == (1, 12, 10, 10) and rec.query_tokens[-3:] == ("[PAD]",) * 3
        assert rec.kind == ("causal" if "causal" in name else "self")
    assert records["padding"].weights[..., -3:].max() == 0.0  # no real or padded query reads the padding
    assert records["none"].weights[..., :-3, -3:].sum(-1).mean() > 0.05  # without the mask the padding soaks up attention
    assert np.triu(records["causal"].weights[0, 0], 1).max() == 0.0
    ex = S.MaskExplorer(records)
    assert ex.heatmap.record is records["none"] and ex.shares()[0] > 0.05
    ex.mask = "padding"
    assert ex.heatmap.record is records["padding"] and ex.headview.record is records["padding"]
    assert ex.shares()[0] == 0.0 and "0.0%" in ex.note.value
    ex.mask = "causal"
    assert ex.shares() == (0.0, 0.0)  # right padding: causal alone already hides it from the real tokens
    ex.head = 5
    assert ex.heatmap.head == 5 and ex.headview.heads == [5] and ex.heatmap.aggregate == ""
    ex.head = "mean"
    assert ex.heatmap.aggregate == "mean" and ex.headview.aggregate == "mean"


# ---- positions -------------------------------------------------------------------------------------


def test_sinusoidal_positions():
    pe = S.sinusoidal_positions(50, 16)
    assert pe.shape == (50, 16) and float(pe.abs().max()) <= 1.0
    assert torch.allclose(pe[:, 0], torch.sin(torch.arange(50.0))) and torch.allclose(pe[:, 1], torch.cos(torch.arange(50.0)))
    # the similarity of two positions depends only on their distance
    dots = [float(pe[p] @ pe[p + 3]) for p in range(0, 40, 7)]
    assert max(dots) - min(dots) < 1e-4
    sim = S.position_similarity(pe)
    assert torch.allclose(sim.diagonal(), torch.ones(50), atol=1e-6) and float(sim[0, 1]) > float(sim[0, 20])
    with pytest.raises(ValueError, match="even"):
        S.sinusoidal_positions(4, 5)


def test_learned_positions():
    pos = S.LearnedPositions(8, 4)
    x = torch.zeros(2, 5, 4)
    assert torch.equal(pos(x)[1], pos.table.weight[:5])
    with pytest.raises(ValueError, match="only 8 positions"):
        pos(torch.zeros(1, 9, 4))


def test_permutation_equivariance_without_positions():
    torch.manual_seed(0)
    layer = S.MultiHeadSelfAttention(32, 4).eval()
    x = torch.randn(1, 9, 32)
    perm = torch.randperm(9)
    assert S.permutation_gap(layer, x, perm) < 1e-5
    assert S.permutation_gap(layer, x, perm, positions=S.sinusoidal_positions(9, 32)) > 0.05


# ---- tiled attention ---------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 7, 16, 128])
def test_tiled_equals_sdpa(qkv, block):
    q, k, v = qkv
    keep = torch.rand(2, 1, 1, 37, generator=torch.Generator().manual_seed(2)) > 0.3  # padding-like, broadcast
    keep[..., 0] = True
    for mask, causal in ((None, False), (None, True), (keep, False), (keep, True)):
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else (mask & S.causal_mask(37) if causal else mask),
                                             is_causal=causal and mask is None)
        assert maxdiff(S.tiled_attention(q, k, v, mask, causal, block=block), ref) <= TOL, (block, causal, mask is None)


def test_tiled_fully_masked_row_and_update_from_minus_infinity(qkv):
    q, k, v = qkv
    keep = torch.ones(37, 37, dtype=torch.bool)
    keep[3] = False
    keep[5, :20] = False  # query 5's first tiles are all masked: the running max stays -inf for a while
    out = S.tiled_attention(q, k, v, keep, block=8)
    assert not torch.isnan(out).any() and float(out[..., 3, :].abs().max()) == 0.0
    assert maxdiff(out, F.scaled_dot_product_attention(q, k, v, attn_mask=keep)) <= TOL


def test_online_softmax_update_folds_blocks():
    g = torch.Generator().manual_seed(4)
    scores, values = 30 * torch.randn(3, 20, generator=g), torch.randn(20, 2, generator=g)
    m, l, acc = torch.full((3,), -math.inf), torch.zeros(3), torch.zeros(3, 2)
    for s0 in range(0, 20, 6):
        m, l, acc = S.online_softmax_update(m, l, acc, scores[:, s0:s0 + 6], values[s0:s0 + 6])
    assert torch.allclose(m, scores.max(-1).values)
    assert maxdiff(acc / l[:, None], torch.softmax(scores, -1) @ values) <= TOL


# ---- measuring ---------------------------------------------------------------------------------------


def test_peak_memory_sees_torch_allocations():
    peak = S.peak_memory(lambda: torch.ones(1_000_000).sum())  # a 4 MB temporary, freed at once
    assert 4_000_000 <= peak < 4_100_000
    n, heads = 512, 4
    q, k, v = (torch.randn(1, heads, n, 32) for _ in range(3))
    naive = S.peak_memory(lambda: S.scaled_dot_product_attention(q, k, v))
    tiled = S.peak_memory(lambda: S.tiled_attention(q, k, v, block=64))
    scores = heads * n * n * 4
    assert naive >= scores  # the (n x n) weights of every head exist at once
    assert tiled < scores / 4  # only (64 x 64) tiles, plus the (n x 32) output


def test_crossover():
    lengths = [64, 256, 1024, 4096]
    frac = -math.log(0.3) / (math.log(2.0) - math.log(0.3))  # where log(a / b) crosses 0 between 1024 and 4096
    assert S.crossover(lengths, [1, 2, 3, 20], [10, 10, 10, 10]) == pytest.approx(1024 * 4 ** frac)
    assert S.crossover(lengths, [1, 2, 3, 4], [10, 10, 10, 10]) is None
    assert S.crossover(lengths, [11, 12, 13, 14], [10, 10, 10, 10]) == 64
    assert "between the measured 1024 and 4096" in S.describe_crossover(lengths, 2000.0)
    assert [S.crossover_bucket(x) for x in (64.0, 1126.0, None)] == list(S.CROSSOVER_OPTIONS)
    assert S.flops(256, 256, "attention") == S.flops(256, 256, "gru")  # equal arithmetic at n = d


def test_scaling_sweep_small():
    result = S.scaling_sweep([16, 128], d_model=32, n_head=4, repeats=1)
    assert set(result.seconds) == set(S.MODELS) and all(len(v) == 2 and min(v) > 0 for v in result.seconds.values())
    naive, fused = result.peak_bytes["attention (ours, naive)"], result.peak_bytes["attention (torch SDPA)"]
    # ours holds (and returns) the weights of all heads: at least one float32 (n x n) per head more than the fused kernel
    assert naive[1] - fused[1] >= 4 * 128 * 128 * 4
    assert "n = 16" in result.summary() and "128" in result.table()


def test_tiled_memory_sweep():
    rows = S.tiled_memory_sweep([128, 512], head_size=16, block=64)
    assert [r["n"] for r in rows] == [128, 512]
    assert all(r["max_diff"] <= TOL for r in rows)
    assert rows[1]["naive_bytes"] > 4 * rows[1]["tiled_bytes"]
    assert rows[1]["naive_bytes"] / rows[0]["naive_bytes"] > 10  # n^2: 4x the length, ~16x the memory
    assert rows[1]["tiled_bytes"] / rows[0]["tiled_bytes"] < 6  # ~ n


# ---- exercise checks ---------------------------------------------------------------------------------


def test_check_attention():
    def right(q, k, v, mask=None):
        return S.scaled_dot_product_attention(q, k, v, mask)[0]

    def unscaled(q, k, v, mask=None):
        return torch.softmax(q @ k.transpose(-2, -1), -1) @ v

    def after_softmax(q, k, v, mask=None):
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)
        return (w if mask is None else w * mask) @ v

    def nan_rows(q, k, v, mask=None):
        s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        return torch.softmax(s if mask is None else s.masked_fill(~mask, -math.inf), -1) @ v

    def stub(q, k, v, mask=None):
        raise NotImplementedError

    assert S.check_attention(right).status == "right"
    assert S.check_attention(stub).status == "unanswered" and S.check_attention(None).status == "unanswered"
    assert "sqrt(d)" in S.check_attention(unscaled).hint
    assert "after the softmax" in S.check_attention(after_softmax).message
    feedback = S.check_attention(nan_rows)
    assert feedback.status == "wrong" and "NaN" in feedback.message
    broken = S.check_attention(lambda q, k, v, mask=None: q @ k)  # a shape error: feedback, not a traceback
    assert broken.status == "wrong" and "RuntimeError" in broken.message


def test_check_causal_mask():
    assert S.check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).tril()).status == "right"
    assert S.check_causal_mask(None).status == "unanswered"
    assert "FUTURE" in S.check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).triu()).message
    assert "itself" in S.check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).tril(-1)).message
    assert "BLOCK" in S.check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).triu(1)).message
    assert "dtype" in S.check_causal_mask(lambda n: torch.ones(n, n).tril()).message
    assert "n = 7" in S.check_causal_mask(lambda n: S.causal_mask(5)).message


def test_check_online_update():
    assert S.check_online_update(S.online_softmax_update).status == "right"

    def stub(m, l, acc, s, v):
        raise NotImplementedError

    def no_rescale(m, l, acc, s, v):
        m_new = torch.maximum(m, s.amax(-1))
        p = torch.exp(s - m_new[:, None])
        return m_new, l * torch.exp(m - m_new) + p.sum(-1), acc + p @ v

    def no_max(m, l, acc, s, v):  # right in exact arithmetic, overflows for large scores
        p = torch.exp(s)
        return m, l + p.sum(-1), acc + p @ v

    assert S.check_online_update(stub).status == "unanswered"
    assert "rescale acc" in S.check_online_update(no_rescale).hint
    feedback = S.check_online_update(no_max)
    assert feedback.status == "wrong" and "overflow" in feedback.message
