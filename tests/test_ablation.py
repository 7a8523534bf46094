"""ablate_heads: an ablated head writes nothing, the other heads are untouched, the model comes back.

Checked on small randomly initialised models of the families the course uses: LLaMA with
grouped-query attention (SmolLM2's layout: 9 query heads over 3 key/value heads, scaled down) and
GPT-2 (the tiny induction model is one); BERT for an encoder whose projection sits beside its
attention module.
"""

import pytest
import torch

from attnwidgets.ablation import ablate_heads, attention_layout


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small models: one thread is as fast, and two threads on a shared machine wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=72, intermediate_size=96, num_hidden_layers=3, num_attention_heads=9,
                         num_key_value_heads=3, max_position_embeddings=64, attn_implementation="eager")
    return LlamaForCausalLM(config).eval(), lambda m, i: m.model.layers[i].self_attn.o_proj, 8  # head_dim 8


def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=97, n_positions=64, n_embd=48, n_layer=3, n_head=4, attn_implementation="eager")
    return GPT2LMHeadModel(config).eval(), lambda m, i: m.transformer.h[i].attn.c_proj, 12


def bert():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=97, hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=64, attn_implementation="eager")
    return BertModel(config).eval(), lambda m, i: m.encoder.layer[i].attention.output.dense, 12


FAMILIES = {"llama": llama, "gpt2": gpt2, "bert": bert}
IDS = torch.tensor([[5, 17, 3, 88, 41, 17, 3, 88, 9, 60, 2, 33]])


def outputs(model):
    out = model(input_ids=IDS)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def head_inputs(model, projection, layer, ablate=()):
    """What the layer's output projection receives, [tokens, heads * head_dim], with `ablate` switched off."""
    seen = []
    with ablate_heads(model, ablate):
        handle = projection(model, layer).register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
        try:
            with torch.no_grad():
                outputs(model)
        finally:
            handle.remove()
    return seen[0][0]


@pytest.mark.parametrize("family", FAMILIES)
def test_ablated_head_writes_zero_and_the_others_are_unchanged(family):
    model, projection, head_dim = FAMILIES[family]()
    n_layers, n_heads, _ = attention_layout(model)
    layer, head = 1, 2
    clean = head_inputs(model, projection, layer)
    ablated = head_inputs(model, projection, layer, [(layer, head)])
    cut = slice(head * head_dim, (head + 1) * head_dim)
    assert clean[:, cut].abs().max() > 1e-3  # the head did write something before
    assert torch.count_nonzero(ablated[:, cut]) == 0  # its output is exactly zero
    rest = torch.ones(clean.shape[-1], dtype=torch.bool)
    rest[cut] = False
    torch.testing.assert_close(ablated[:, rest], clean[:, rest], rtol=0, atol=0)  # same layer, other heads: identical
    # an earlier layer never sees the ablation; the final output does
    torch.testing.assert_close(head_inputs(model, projection, 0, [(layer, head)]), head_inputs(model, projection, 0), rtol=0, atol=0)
    with torch.no_grad(), ablate_heads(model, [(layer, head)]):
        changed = outputs(model)
    assert (changed - outputs(model).detach()).abs().max() > 1e-6


@pytest.mark.parametrize("family", FAMILIES)
def test_model_restored_after_the_block_even_on_error(family):
    model, projection, _ = FAMILIES[family]()
    n_layers, n_heads, _ = attention_layout(model)
    with torch.no_grad():
        before = outputs(model).clone()
    hooks = sum(len(m._forward_pre_hooks) for m in model.modules())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="boom"):
        with ablate_heads(model, [(l, h) for l in range(n_layers) for h in range(n_heads)]):
            assert sum(len(m._forward_pre_hooks) for m in model.modules()) == hooks + n_layers
            raise RuntimeError("boom")
    assert sum(len(m._forward_pre_hooks) for m in model.modules()) == hooks
    with torch.no_grad():
        torch.testing.assert_close(outputs(model), before, rtol=0, atol=0)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_grouped_query_heads_are_numbered_by_query_head():
    model, projection, head_dim = llama()
    assert attention_layout(model)[:2] == (3, 9)  # 9 query heads, although only 3 key/value heads
    clean = head_inputs(model, projection, 2)
    # heads 0, 1, 2 read the same key/value head; ablating head 1 leaves 0 and 2 as they were
    ablated = head_inputs(model, projection, 2, {2: [1]})
    assert torch.count_nonzero(ablated[:, head_dim : 2 * head_dim]) == 0
    torch.testing.assert_close(ablated[:, :head_dim], clean[:, :head_dim], rtol=0, atol=0)
    torch.testing.assert_close(ablated[:, 2 * head_dim : 3 * head_dim], clean[:, 2 * head_dim : 3 * head_dim], rtol=0, atol=0)


def test_all_heads_of_a_layer_ablated_equals_skipping_its_attention():
    model, _, _ = gpt2()
    with torch.no_grad(), ablate_heads(model, {1: [0, 1, 2, 3]}):
        ablated = outputs(model)
    # the same by hand: the attention block then adds only its output bias to the residual stream
    attn = model.transformer.h[1].attn
    handle = attn.register_forward_hook(lambda m, args, out: (torch.zeros_like(out[0]) + m.c_proj.bias, *out[1:]))
    try:
        with torch.no_grad():
            by_hand = outputs(model)
    finally:
        handle.remove()
    torch.testing.assert_close(ablated, by_hand, rtol=1e-5, atol=1e-5)


def test_empty_selection_changes_nothing():
    model, _, _ = gpt2()
    with torch.no_grad():
        before = outputs(model).clone()
        with ablate_heads(model, []) as chosen:
            assert chosen == {}
            torch.testing.assert_close(outputs(model), before, rtol=0, atol=0)


@pytest.mark.parametrize(
    "heads, error, match",
    [
        ([(3, 0)], ValueError, "layer 3 is out of range: the model has layers 0 to 2"),
        ([(0, 4)], ValueError, "head 4 is out of range"),
        ([(-1, 0)], ValueError, "out of range"),
        ([(0,)], TypeError, r"\(layer, head\) pair"),
        ([(0.5, 1)], TypeError, r"\(layer, head\) pair"),
        ("0,1", TypeError, r"\(layer, head\) pairs"),
        (7, TypeError, r"\(layer, head\) pairs"),
    ],
)
def test_bad_selections_say_what_is_wrong(heads, error, match):
    model, _, _ = gpt2()
    with pytest.raises(error, match=match):
        with ablate_heads(model, heads):
            pass
    assert sum(len(m._forward_pre_hooks) for m in model.modules()) == 0


def test_models_it_cannot_ablate_are_refused_with_the_reason():
    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)

    with pytest.raises(TypeError, match="MultiheadAttention"):
        with ablate_heads(Plain(), [(0, 0)]):
            pass
    with pytest.raises(ValueError, match="no attention module"):
        with ablate_heads(torch.nn.Linear(3, 3), [(0, 0)]):
            pass
    with pytest.raises(TypeError, match="torch.nn.Module"):
        with ablate_heads("gpt2", [(0, 0)]):
            pass
