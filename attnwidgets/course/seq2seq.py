"""Notebook 02: sequence-to-sequence models with and without attention, on data made here.

Two tasks, both generated (no download):

- dates: a date written the way people write it ("Tue, March 3rd 1998", "3 mar 1998",
  "THE 3RD OF MARCH, 1998", ...) -> ISO ``1998-03-03``. The generator knows where the year,
  month and day are in the text it writes (``DateExample.spans``), so the attention of each
  output digit can be scored against the characters it should read (``alignment_precision``).
- reverse: a string of 5-60 digits -> the same digits backwards. The first output digit depends
  on the last input digit, so a decoder that sees the input only through one fixed-size vector
  must carry the whole string in it; an attending decoder can look it up.

The model is a character-level GRU encoder-decoder (``Seq2Seq``): a bidirectional encoder, a
GRUCell decoder, and a scorer that is additive (Bahdanau et al., 2015), multiplicative "general"
(Luong et al., 2015) or absent (the decoder then gets the encoder's final states as a fixed
context at every step, as in Cho et al., 2014). Everything else is the same in the three, so a
difference in accuracy is the attention's.

``python -m attnwidgets.course.seq2seq train dates-bahdanau`` re-makes a model in data/ (see
``PRESETS``; ``train all`` makes every one), seeded, on one thread; ``aw.load_model(name)``
loads it through ``load``.

Measured (2026-12, torch 2.13, one thread, 2 CPU cores shared with other jobs, load 6-9; each
model's training.json has the details):

| model | parameters | steps x 64 | train time | held-out exact match |
|---|---|---|---|---|
| dates-bahdanau | 8,269 | 2000 | 137 s | 100% on each of the 11 forms |
| dates-luong | 8,245 | 2000 | 209 s | 99.5-100% per form |
| dates-none | 7,669 | 2000 | 142 s | 73% (ISO input 24-30%) |
| dates-none-wide | 44,813 | 2000 | 136 s | 100% |
| reverse-bahdanau | 173,372 | 1800 | 669 s | 100 / 100 / 100 / 100 / 99% for lengths 5-10 / 11-20 / 21-30 / 31-45 / 46-60 |
| reverse-none | 156,860 | 1800 | 320 s | 98 / 41 / 0.3 / 0 / 0% |

Alignment precision of dates-bahdanau: year 0.99, month 0.80, day 0.81 (first month/day digit
0.67-0.70, second 0.92-0.93); dates-luong: year 0.70 (first two year digits 0.49), month 0.91,
day 0.87. So the dates show alignment, but not that attention is needed (the wide model without
it learns them); reversing long strings does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import platform
import random
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..models import DATA_DIR
from ..record import AttentionRecord
from . import exercises

# ---- dates: the generator ---------------------------------------------------------------------

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_YEAR, LAST_YEAR = 1950, 2049
# one example of each written form, for 3 March 1998 (a Tuesday); letter case and commas vary too
FORMS = {
    "iso": "1998-03-03",
    "day month year": "3 March 1998",
    "day mon year": "03 Mar 1998",
    "month day, year": "March 3, 1998",
    "mon day year": "Mar 3 1998",
    "weekday, day month year": "Tuesday, 3 March 1998",
    "wkd, month day, year": "Tue, March 3, 1998",
    "the day-th of month year": "the 3rd of March 1998",
    "month day-th, year": "March 3rd, 1998",
    "weekday the day-th of month": "Tuesday the 3rd of March, 1998",
    "day-th mon year": "3rd Mar 1998",
}
FORM_NAMES = tuple(FORMS)
FIELDS = ("year", "month", "day")
# where each field sits in the ISO output "YYYY-MM-DD"
OUTPUT_ROWS = {"year": (0, 1, 2, 3), "month": (5, 6), "day": (8, 9)}
CASES = ("title", "lower", "upper")
CASE_WEIGHTS = (0.6, 0.2, 0.2)
# Every character the generator can write: what the models know. Anything else is refused with a
# message (an embedding never trained would give confident nonsense).
_WORDS = "".join(MONTHS + WEEKDAYS + ("the", "of", "st", "nd", "rd", "th"))
DATE_CHARS = " ,-0123456789" + "".join(sorted(set(_WORDS.upper()))) + "".join(sorted(set(_WORDS.lower())))
MAX_SOURCE = 48  # the longest form is 37 characters; a text box refuses more than this
ISO_CHARS = "0123456789-"


@dataclass(frozen=True)
class DateExample:
    """A written date, its ISO form, and where each field's characters are in the text."""

    text: str
    iso: str
    form: str
    spans: dict  # field -> (start, stop) character span in text (the digits or the month word)


def ordinal(day: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 23 -> '23rd'."""
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _pieces(date: dt.date, form: str, rng: random.Random) -> list[tuple[str, str | None]]:
    """The text of one form as (piece, field) pairs; field is None for what carries no field."""
    month_full, weekday_full = MONTHS[date.month - 1], WEEKDAYS[date.weekday()]
    month = month_full if "month" in form else month_full[:3]
    comma = lambda: "," if rng.random() < 0.5 else ""  # noqa: E731  (commas are optional in every form)
    day = str(date.day)
    if form == "day mon year" and rng.random() < 0.5:
        day = f"{date.day:02d}"
    year = (str(date.year), "year")
    if form == "iso":
        return [year, ("-", None), (f"{date.month:02d}", "month"), ("-", None), (f"{date.day:02d}", "day")]
    if form == "day month year" or form == "day mon year":
        return [(day, "day"), (" ", None), (month, "month"), (comma() + " ", None), year]
    if form == "month day, year" or form == "mon day year":
        return [(month, "month"), (" ", None), (day, "day"), (comma() + " ", None), year]
    if form == "weekday, day month year":
        return [(weekday_full, None), (comma() + " ", None), (day, "day"), (" ", None), (month, "month"), (" ", None), year]
    if form == "wkd, month day, year":
        return [(weekday_full[:3], None), (comma() + " ", None), (month, "month"), (" ", None), (day, "day"), (comma() + " ", None), year]
    th = ordinal(date.day)
    if form == "the day-th of month year":
        return [("the ", None), (day, "day"), (th[len(day):] + " of ", None), (month, "month"), (comma() + " ", None), year]
    if form == "month day-th, year":
        return [(month, "month"), (" ", None), (day, "day"), (th[len(day):] + comma() + " ", None), year]
    if form == "weekday the day-th of month":
        return [(weekday_full, None), (" the ", None), (day, "day"), (th[len(day):] + " of ", None), (month, "month"), (comma() + " ", None), year]
    if form == "day-th mon year":
        return [(day, "day"), (th[len(day):] + " ", None), (month, "month"), (comma() + " ", None), year]
    raise ValueError(f"unknown form {form!r}; the forms are {', '.join(FORM_NAMES)}.")


def write_date(date: dt.date, form: str, rng: random.Random | None = None, case: str | None = None) -> DateExample:
    """One written date of the given form; rng picks commas, a leading zero and (unless given) the letter case."""
    rng = rng or random.Random(0)
    pieces = _pieces(date, form, rng)
    case = case or rng.choices(CASES, CASE_WEIGHTS)[0]
    text, spans, at = "", {}, 0
    for piece, name in pieces:
        if name:
            spans[name] = (at, at + len(piece))
        text += piece
        at += len(piece)
    # the first letter of the text is capitalised in "title" case ("The 3rd of ..."), the rest as written
    text = text.lower() if case == "lower" else text.upper() if case == "upper" else text[:1].upper() + text[1:]
    return DateExample(text, date.isoformat(), form, spans)


def held_out(date: dt.date) -> bool:
    """About one calendar date in ten is never used for training: the test dates are drawn from these."""
    return (date.toordinal() * 2654435761) % 4294967291 % 10 == 0


_FIRST_DAY = dt.date(FIRST_YEAR, 1, 1).toordinal()
_N_DAYS = dt.date(LAST_YEAR, 12, 31).toordinal() - _FIRST_DAY + 1


def random_dates(n: int, seed: int | random.Random, split: str = "train", forms: Sequence[str] | None = None) -> list[DateExample]:
    """n written dates, seeded. split "train" never gives a held-out date, "test" gives only those.

    forms: the written forms to draw from (default all of them, uniformly).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}.")
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    forms = list(forms or FORM_NAMES)
    out = []
    while len(out) < n:
        date = dt.date.fromordinal(_FIRST_DAY + rng.randrange(_N_DAYS))
        if held_out(date) == (split == "test"):
            out.append(write_date(date, rng.choice(forms), rng))
    return out


def test_dates(n_per_form: int = 200, seed: int = 2026) -> list[DateExample]:
    """A fresh held-out set: n_per_form dates of every form, none of them a training date."""
    rng = random.Random(seed)
    return [ex for form in FORM_NAMES for ex in random_dates(n_per_form, rng, "test", [form])]


# ---- dates: the reference parser (what the generator's text means) ----------------------------

_MONTH_OF = {**{m.lower(): i + 1 for i, m in enumerate(MONTHS)}, **{m.lower()[:3]: i + 1 for i, m in enumerate(MONTHS)}}
_WEEKDAY_OF = {**{w.lower(): i for i, w in enumerate(WEEKDAYS)}, **{w.lower()[:3]: i for i, w in enumerate(WEEKDAYS)}}


def parse_date(text: str) -> str | None:
    """The ISO date a written date means, by rule (not by the model); None if it cannot tell.

    Reads every form the generator writes (any case, commas or not) and the same words in other
    orders. A weekday that does not fit the date makes it None.
    """
    import re

    t = text.strip().lower()
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", t):
        year, month, day = (int(g) for g in m.groups())
        weekday = None
    else:
        tokens = re.findall(r"[a-z]+|\d+(?:st|nd|rd|th)?", t)
        if re.sub(r"[a-z]+|\d+(?:st|nd|rd|th)?|[\s,]", "", t):
            return None  # characters the forms never use
        year = month = day = weekday = None
        for tok in tokens:
            if tok in _MONTH_OF:
                if month is not None:
                    return None
                month = _MONTH_OF[tok]
            elif tok in _WEEKDAY_OF:
                weekday = _WEEKDAY_OF[tok]
            elif tok in ("the", "of"):
                continue
            elif tok.isalpha():
                return None
            else:
                digits = re.match(r"\d+", tok).group()
                if len(digits) == 4 and year is None and tok == digits:
                    year = int(digits)
                elif len(digits) <= 2 and day is None:
                    if tok != digits and ordinal(int(digits)) != tok:
                        return None  # "3th"
                    day = int(digits)
                else:
                    return None
        if None in (year, month, day):
            return None
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None
    if weekday is not None and date.weekday() != weekday:
        return None
    return date.isoformat()


# ---- reversing digit strings ------------------------------------------------------------------

DIGITS = "0123456789"
REVERSE_LENGTHS = (5, 60)
LENGTH_BUCKETS = ((5, 10), (11, 20), (21, 30), (31, 45), (46, 60))


def _is_test_string(digits: np.ndarray) -> np.ndarray:
    """About one digit string in ten (by a hash of its digits) is kept for testing only. [n, L] -> [n]"""
    weights = np.power(31, np.arange(digits.shape[1]) % 16, dtype=np.int64) % 1_000_003
    return (digits.astype(np.int64) * weights).sum(1) % 1_000_003 % 10 == 0


def random_digits(n: int, length: int, rng: np.random.Generator, split: str = "train") -> np.ndarray:
    """n random digit strings of one length, [n, length] ints 0-9; test strings never occur in training."""
    out = np.empty((0, length), dtype=np.int64)
    while len(out) < n:
        batch = rng.integers(0, 10, size=(2 * n, length))
        out = np.concatenate([out, batch[_is_test_string(batch) == (split == "test")]])
    return out[:n]


def reverse_test_set(per_length: int = 50, lengths: Sequence[int] = tuple(range(5, 61, 5)), seed: int = 2026) -> dict[int, list[str]]:
    """Held-out digit strings: per_length of each length."""
    rng = np.random.default_rng(seed)
    return {n: ["".join(map(str, row)) for row in random_digits(per_length, n, rng, "test")] for n in lengths}


# ---- the model -------------------------------------------------------------------------------

BOS, EOS = "<s>", "</s>"
SCORERS = ("bahdanau", "luong", "none")


@dataclass(frozen=True)
class Config:
    """The shape of a Seq2Seq model; saved in the weights file's metadata."""

    source_chars: str
    target_chars: str
    attention: str = "bahdanau"  # "bahdanau" (additive), "luong" (general: s W h) or "none"
    embed: int = 8
    encoder: int = 12  # hidden units per direction
    decoder: int = 24
    attention_dim: int = 12  # Bahdanau only
    max_target: int = 10  # longest output (EOS comes after it)


class Seq2Seq(nn.Module):
    """Character encoder-decoder: bidirectional GRU encoder, GRUCell decoder, optional attention.

    Source ids: 0 is padding, 1.. the characters of ``config.source_chars``. Target ids: 0 BOS,
    1 EOS, 2.. the characters of ``config.target_chars``.
    """

    def __init__(self, config: Config) -> None:
        super().__init__()
        if config.attention not in SCORERS:
            raise ValueError(f"attention must be one of {SCORERS}; got {config.attention!r}.")
        self.config = c = config
        n_in, n_out, e, h, d = len(c.source_chars) + 1, len(c.target_chars) + 2, c.embed, c.encoder, c.decoder
        self.source_embedding = nn.Embedding(n_in, e, padding_idx=0)
        self.encoder = nn.GRU(e, h, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * h, d)  # first decoder state from the encoder's two final states
        self.target_embedding = nn.Embedding(n_out, e)
        self.decoder = nn.GRUCell(e + 2 * h, d)
        if c.attention == "bahdanau":
            self.query = nn.Linear(d, c.attention_dim, bias=False)
            self.key = nn.Linear(2 * h, c.attention_dim)
            self.v = nn.Linear(c.attention_dim, 1, bias=False)
        elif c.attention == "luong":
            self.general = nn.Linear(2 * h, d, bias=False)
        self.out = nn.Linear(d + 2 * h + e, n_out)
        self._source_index = {ch: i + 1 for i, ch in enumerate(c.source_chars)}

    # ---- text <-> ids ----

    def encode_text(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded source ids [B, S] and lengths [B]; raises ValueError naming any unknown character."""
        for text in texts:
            if not text:
                raise ValueError("an input is empty: type a date, e.g. '3 March 1998'.")
            if bad := sorted(set(text) - set(self._source_index)):
                raise ValueError(f"{text!r} has characters this model never saw: {' '.join(repr(b) for b in bad)}. It reads {self.config.source_chars.strip()!r} and spaces.")
        lengths = torch.tensor([len(t) for t in texts])
        ids = torch.zeros(len(texts), int(lengths.max()), dtype=torch.long)
        for i, text in enumerate(texts):
            ids[i, : len(text)] = torch.tensor([self._source_index[ch] for ch in text])
        return ids, lengths

    def target_ids(self, texts: Sequence[str]) -> torch.Tensor:
        """Targets as ids with EOS after each, padded with -100 (ignored by the loss). [B, T+1]"""
        index = {ch: i + 2 for i, ch in enumerate(self.config.target_chars)}
        width = max(len(t) for t in texts) + 1
        ids = torch.full((len(texts), width), -100, dtype=torch.long)
        for i, text in enumerate(texts):
            ids[i, : len(text) + 1] = torch.tensor([index[ch] for ch in text] + [1])
        return ids

    def decode_ids(self, ids: torch.Tensor) -> list[str]:
        """Predicted target ids [B, T] -> strings, cut at the first EOS."""
        out = []
        for row in ids.tolist():
            chars = []
            for i in row:
                if i == 1:
                    break
                chars.append(self.config.target_chars[i - 2] if i >= 2 else "?")
            out.append("".join(chars))
        return out

    # ---- the network ----

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder states [B, S, 2H], padding mask [B, S] (True = real), final summary [B, 2H]."""
        x = self.source_embedding(ids)  # [B, S, E]
        if bool((lengths == ids.shape[1]).all()):
            # no padding (a reverse batch has one length): skip packing, whose backward pass
            # zero-fills a [sum of lengths, 3H] buffer at every time step (a third of a step's time)
            states, last = self.encoder(x)  # last: [2, B, H]
        else:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            states, last = self.encoder(packed)  # last: [2, B, H], forward final at each text's end
            states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=ids.shape[1])
        mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
        return states, mask, torch.cat([last[0], last[1]], dim=-1)

    def attend(self, state: torch.Tensor, states: torch.Tensor, keys: torch.Tensor | None, mask: torch.Tensor) -> torch.Tensor:
        """Attention weights [B, S] of decoder state [B, D] over encoder states [B, S, 2H]."""
        if self.config.attention == "bahdanau":
            scores = self.v(torch.tanh(self.query(state)[:, None, :] + keys)).squeeze(-1)  # v . tanh(W s + U h_j)
        else:
            scores = torch.einsum("bd,bsd->bs", state, self.general(states))  # s . (W h_j)
        return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor | None = None, max_steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits [B, T, V] and attention [B, T, S] (None without attention).

        With targets (ids [B, T], -100 for padding) the decoder reads the right previous
        character (teacher forcing); without, it reads its own greedy choice for max_steps steps.
        """
        states, mask, summary = self.encode(ids, lengths)
        keys = self.key(states) if self.config.attention == "bahdanau" else None
        state = torch.tanh(self.bridge(summary))  # [B, D]
        steps = targets.shape[1] if targets is not None else (max_steps or self.config.max_target + 1)
        previous = torch.zeros(ids.shape[0], dtype=torch.long)  # BOS
        done = torch.zeros(ids.shape[0], dtype=torch.bool)
        logits, weights = [], []
        for t in range(steps):
            if self.config.attention == "none":
                context = summary  # the same vector at every step: all the decoder knows of the input
            else:
                a = self.attend(state, states, keys, mask)  # [B, S]
                context = torch.bmm(a[:, None, :], states)[:, 0]  # [B, 2H]
                weights.append(a)
            y = self.target_embedding(previous)  # [B, E]
            state = self.decoder(torch.cat([y, context], dim=-1), state)
            logits.append(self.out(torch.cat([state, context, y], dim=-1)))
            if targets is not None:
                previous = targets[:, t].clamp(min=0)
            else:
                previous = logits[-1].argmax(-1)
                done = done | (previous == 1)
                if done.all():  # every output has ended (EOS): no need to run to max_target
                    break
        return torch.stack(logits, 1), (torch.stack(weights, 1) if weights else None)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- using a model -----------------------------------------------------------------------------


@torch.no_grad()
def decode(model: Seq2Seq, texts: Sequence[str], batch_size: int = 1024) -> tuple[list[str], list[np.ndarray | None]]:
    """Greedy outputs and, for attention models, each output's [T, S] attention (T = its characters)."""
    model.eval()
    outputs, attention = [], []
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        ids, lengths = model.encode_text(chunk)
        logits, weights = model(ids, lengths)
        strings = model.decode_ids(logits.argmax(-1))
        outputs += strings
        for i, s in enumerate(strings):
            attention.append(None if weights is None else weights[i, : len(s), : len(chunk[i])].numpy().copy())
    return outputs, attention


def translate(model: Seq2Seq, texts: Sequence[str] | str) -> list[str]:
    """The model's outputs for a batch of inputs: translate(model, ["3 March 1998"]) -> ["1998-03-03"]."""
    if isinstance(texts, str):
        raise TypeError("translate takes a list of texts (a batch); for one text write translate(model, [text]).")
    return decode(model, texts)[0]


def show_char(ch: str) -> str:
    """A character as a view label: a space is drawn as a middle dot (every font has one)."""
    return "\u00b7" if ch == " " else ch


def attention_record(model: Seq2Seq, text: str, name: str = "") -> AttentionRecord:
    """The decoder's attention over the input while it writes its output, as a cross-attention record.

    Query tokens are the output characters, key tokens the input characters (one layer, one head):
    ``aw.AlignmentView(seq2seq.attention_record(model, "3 March 1998"))``.
    """
    if model.config.attention == "none":
        raise ValueError("this model has no attention: its decoder sees the input only through the encoder's final states. Load one with attention, e.g. 'dates-bahdanau'.")
    if not isinstance(text, str):
        raise TypeError(f"attention_record takes one text; got {type(text).__name__}.")
    (out,), (weights,) = decode(model, [text])
    if not out:
        raise ValueError(f"the model wrote nothing for {text!r} (it ended at once), so there is no attention to show.")
    return AttentionRecord.from_matrix(weights, [show_char(c) for c in out], [show_char(c) for c in text], kind="cross",
                                       model_name=name or f"seq2seq-{model.config.attention}", layer_names=["decoder attention"])


# ---- measuring ---------------------------------------------------------------------------------


def field_precision(weights: np.ndarray, rows: Sequence[int], cols: Sequence[int] | tuple[int, int]) -> float:
    """The share of the attention of the given output rows that falls on the given source columns.

    weights: [T, S] rows that each sum to 1; cols: column indices or a (start, stop) span. Mean over rows.
    """
    cols = range(*cols) if isinstance(cols, tuple) and len(cols) == 2 else cols
    w = np.asarray(weights)
    return float(w[np.ix_(list(rows), list(cols))].sum(1).mean())


def evaluate_dates(model: Seq2Seq, examples: Sequence[DateExample]) -> dict[str, dict]:
    """One pass over held-out dates.

    accuracy_by_form: exact-match accuracy per written form (and 'all').
    For an attention model, over the examples it gets right (a wrong output's rows do not mean the field):
    alignment_precision: per field (year, month, day), the mean share of the attention of the
        field's output digits that falls on the field's own source characters;
    alignment_by_digit: the same share for each output digit (position in YYYY-MM-DD -> share);
    uniform_precision: what precision would be if attention were spread evenly over the input
        (the field's share of the characters): the baseline to compare with.
    """
    outputs, attention = decode(model, [ex.text for ex in examples])
    hits: dict[str, list[bool]] = {}
    per_field: dict[str, list[float]] = {f: [] for f in FIELDS}
    per_digit: dict[int, list[float]] = {r: [] for f in FIELDS for r in OUTPUT_ROWS[f]}
    uniform: dict[str, list[float]] = {f: [] for f in FIELDS}
    for ex, out, w in zip(examples, outputs, attention):
        hits.setdefault(ex.form, []).append(out == ex.iso)
        if out == ex.iso and w is not None:
            for f in FIELDS:
                start, stop = ex.spans[f]
                per_field[f].append(field_precision(w, OUTPUT_ROWS[f], (start, stop)))
                uniform[f].append((stop - start) / len(ex.text))
                for r in OUTPUT_ROWS[f]:
                    per_digit[r].append(float(w[r, start:stop].sum()))
    accuracy = {form: float(np.mean(h)) for form, h in hits.items()}
    accuracy["all"] = float(np.mean([out == ex.iso for ex, out in zip(examples, outputs)]))
    result: dict[str, dict] = {"accuracy_by_form": accuracy}
    if model.config.attention != "none":
        mean = lambda v: float(np.mean(v)) if v else float("nan")  # noqa: E731
        result["alignment_precision"] = {f: mean(v) for f, v in per_field.items()}
        result["alignment_by_digit"] = {r: mean(v) for r, v in per_digit.items()}
        result["uniform_precision"] = {f: mean(v) for f, v in uniform.items()}
    return result


def alignment_precision(model: Seq2Seq, examples: Sequence[DateExample]) -> dict[str, float]:
    """Per field: the share of its output digits' attention on its own source span (see evaluate_dates)."""
    return evaluate_dates(model, examples)["alignment_precision"]


def accuracy_by_form(model: Seq2Seq, examples: Sequence[DateExample]) -> dict[str, float]:
    """Exact-match accuracy per written form (and 'all')."""
    return evaluate_dates(model, examples)["accuracy_by_form"]


def accuracy_by_length(model: Seq2Seq, test: dict[int, list[str]]) -> dict[int, float]:
    """Exact-match accuracy of reversing, per input length."""
    return {n: float(np.mean([o == s[::-1] for o, s in zip(translate(model, strings), strings)])) for n, strings in test.items()}


def bucket_accuracy(by_length: dict[int, float]) -> dict[str, float]:
    """by_length averaged into LENGTH_BUCKETS, keyed '5-10' etc."""
    out = {}
    for lo, hi in LENGTH_BUCKETS:
        values = [a for n, a in by_length.items() if lo <= int(n) <= hi]
        if values:
            out[f"{lo}-{hi}"] = float(np.mean(values))
    return out


# ---- training ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What one model is and how it is trained; saved in its training.json."""

    task: str = "dates"  # "dates" or "reverse"
    attention: str = "bahdanau"
    embed: int = 8
    encoder: int = 12
    decoder: int = 24
    attention_dim: int = 12
    steps: int = 1500
    batch: int = 64
    lr: float = 3e-3
    decay_from: float = 0.7  # constant lr for this share of the steps, then linear decay to lr * final_lr
    final_lr: float = 0.05
    clip: float = 1.0
    seed: int = 0
    eval_every: int = 250


PRESETS: dict[str, Settings] = {
    "dates-bahdanau": Settings(steps=2000),
    "dates-luong": Settings(attention="luong", steps=2000),
    "dates-none": Settings(attention="none", steps=2000),
    "dates-none-wide": Settings(attention="none", embed=16, encoder=32, decoder=64, steps=2000),
    "reverse-bahdanau": Settings(task="reverse", embed=16, encoder=64, decoder=128, attention_dim=64, steps=1800, eval_every=300),
    "reverse-none": Settings(task="reverse", attention="none", embed=16, encoder=64, decoder=128, steps=1800, eval_every=300),
}
DESCRIPTIONS = {
    "dates-bahdanau": "character GRU encoder-decoder with additive (Bahdanau) attention: written dates -> ISO YYYY-MM-DD (notebook 02)",
    "dates-luong": "the same model with multiplicative 'general' (Luong) scoring: written dates -> ISO (notebook 02)",
    "dates-none": "the same model without attention (fixed context = the encoder's final states): written dates -> ISO (notebook 02)",
    "dates-none-wide": "a wider encoder-decoder without attention (about 5x the parameters): written dates -> ISO (notebook 02)",
    "reverse-bahdanau": "character GRU encoder-decoder with additive attention that reverses digit strings of length 5-60 (notebook 02)",
    "reverse-none": "the same encoder-decoder without attention, reversing digit strings of length 5-60 (notebook 02)",
}


def new_model(settings: Settings) -> Seq2Seq:
    if settings.task == "dates":
        config = Config(DATE_CHARS, ISO_CHARS, settings.attention, settings.embed, settings.encoder, settings.decoder, settings.attention_dim, max_target=10)
    elif settings.task == "reverse":
        config = Config(DIGITS, DIGITS, settings.attention, settings.embed, settings.encoder, settings.decoder, settings.attention_dim, max_target=REVERSE_LENGTHS[1])
    else:
        raise ValueError(f"task must be 'dates' or 'reverse'; got {settings.task!r}.")
    return Seq2Seq(config)


def _batches(settings: Settings):
    """An endless stream of (source texts, target texts), seeded; never a held-out example."""
    rng, nrng = random.Random(settings.seed), np.random.default_rng(settings.seed)
    while True:
        if settings.task == "dates":
            examples = random_dates(settings.batch, rng, "train")
            yield [e.text for e in examples], [e.iso for e in examples]
        else:
            length = int(nrng.integers(REVERSE_LENGTHS[0], REVERSE_LENGTHS[1] + 1))
            texts = ["".join(map(str, row)) for row in random_digits(settings.batch, length, nrng, "train")]
            yield texts, [t[::-1] for t in texts]


def _dev(settings: Settings):
    """A small held-out set to follow training (not the final test set: other seeds)."""
    if settings.task == "dates":
        examples = random_dates(400, 99, "test")
        return lambda m: accuracy_by_form(m, examples)["all"]
    test = reverse_test_set(20, (8, 15, 25, 38, 53), seed=99)
    return lambda m: accuracy_by_length(m, test)


def final_metrics(model: Seq2Seq, task: str) -> dict[str, Any]:
    """The held-out numbers stored in training.json (the notebook recomputes them on its own test set)."""
    if task == "dates":
        test = test_dates(300, seed=7)
        return {"test": "300 held-out dates per written form (seed 7), dates never used in training", **evaluate_dates(model, test)}
    lengths = tuple(range(5, 61))
    by_length = accuracy_by_length(model, reverse_test_set(40, lengths, seed=7))
    return {"test": "40 held-out digit strings of each length 5-60 (seed 7)", "accuracy_by_length": by_length, "accuracy_by_bucket": bucket_accuracy(by_length)}


def train(settings: Settings, progress: bool = True) -> tuple[Seq2Seq, dict[str, Any]]:
    """Train one model; return it and what training.json records."""
    from tqdm.auto import tqdm

    torch.set_num_threads(1)  # one thread: deterministic, and the machine is shared
    torch.manual_seed(settings.seed)
    model = new_model(settings)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    knee = int(settings.decay_from * settings.steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 1.0 if s < knee else 1.0 - (1.0 - settings.final_lr) * (s - knee) / max(1, settings.steps - knee))
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    dev = _dev(settings)
    batches = _batches(settings)
    losses, curve, dev_curve = [], [], []
    start = time.perf_counter()
    bar = tqdm(range(1, settings.steps + 1), desc=f"{settings.task}/{settings.attention}", disable=not progress)
    for step in bar:
        model.train()
        sources, targets = next(batches)
        ids, lengths = model.encode_text(sources)
        target = model.target_ids(targets)  # [B, T+1]
        logits, _ = model(ids, lengths, targets=target)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), settings.clip)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 25 == 0:
            curve.append([step, float(np.mean(losses[-25:]))])
            bar.set_postfix(loss=f"{curve[-1][1]:.3f}")
        if step % settings.eval_every == 0 or step == settings.steps:
            dev_curve.append([step, round(time.perf_counter() - start, 1), dev(model)])
    seconds = time.perf_counter() - start
    info = {
        "settings": asdict(settings),
        "config": asdict(model.config),
        "parameters": n_parameters(model),
        "seconds": round(seconds, 1),
        "loss_curve": curve,
        "dev_curve": dev_curve,
        "final": final_metrics(model, settings.task),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other jobs while measured)",
    }
    return model, info


def save(model: Seq2Seq, info: dict[str, Any], name: str, root: pathlib.Path = DATA_DIR) -> pathlib.Path:
    """data/<name>/: model.safetensors (config in its metadata), training.json, attnwidgets.json."""
    from safetensors.torch import save_file

    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    recreate = f"python -m attnwidgets.course.seq2seq train {name}"
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, folder / "model.safetensors", metadata={"config": json.dumps(asdict(model.config))})
    (folder / "training.json").write_text(json.dumps({**info, "recreate": recreate}, indent=1) + "\n")
    (folder / "attnwidgets.json").write_text(json.dumps({
        "description": DESCRIPTIONS.get(name, "a character-level seq2seq model (notebook 02)"),
        "recreate": recreate, "loader": "attnwidgets.course.seq2seq:load"}, indent=1) + "\n")
    return folder


def load(path: pathlib.Path) -> tuple[Seq2Seq, None]:
    """The loader aw.load_model uses for data/dates-* and data/reverse-*: (model in eval mode, None)."""
    from safetensors import safe_open

    path = pathlib.Path(path)
    file = path / "model.safetensors"
    if not file.exists():
        from ..models import ModelNotAvailableError

        raise ModelNotAvailableError(f"{path.name}: no weights in {path}; re-make them with `python -m attnwidgets.course.seq2seq train {path.name}`.")
    with safe_open(file, framework="pt") as f:
        config = Config(**json.loads(f.metadata()["config"]))
        state = {k: f.get_tensor(k) for k in f.keys()}
    model = Seq2Seq(config)
    model.load_state_dict(state)
    return model.eval(), None


def training_info(name: str) -> dict[str, Any]:
    """The training.json of a shipped model."""
    return json.loads((DATA_DIR / name / "training.json").read_text())


# ---- the notebook's pictures and tables ---------------------------------------------------------


def form_table(results: dict[str, dict[str, float]]) -> str:
    """Accuracy per written form, one column per model: {model: accuracy_by_form(...)} -> text."""
    names = list(results)
    width = max(len(f) for f in (*FORM_NAMES, "all")) + 2
    lines = ["form".ljust(width) + "example".ljust(33) + "".join(n.rjust(max(10, len(n) + 2)) for n in names)]
    for form in (*FORM_NAMES, "all"):
        example = FORMS.get(form, "")
        cells = "".join(f"{100 * results[n].get(form, float('nan')):.1f}%".rjust(max(10, len(n) + 2)) for n in names)
        lines.append(form.ljust(width) + example.ljust(33) + cells)
    return "\n".join(lines)


def precision_table(reports: dict[str, dict]) -> str:
    """Alignment precision per field and per output digit, one column per model, with the uniform baseline.

    reports: {model name: evaluate_dates(...)}; models without attention are left out.
    """
    names = [n for n, r in reports.items() if "alignment_precision" in r]
    if not names:
        return "no model with attention among these reports"
    col = max(16, *(len(n) + 2 for n in names))
    lines = ["field".ljust(12) + "".join(n.rjust(col) for n in names) + "uniform spread".rjust(col)]
    for f in FIELDS:
        uniform = reports[names[0]]["uniform_precision"][f]
        lines.append(f.ljust(12) + "".join(f"{reports[n]['alignment_precision'][f]:.2f}".rjust(col) for n in names) + f"{uniform:.2f}".rjust(col))
    lines.append("")
    lines.append("per output digit (Y Y Y Y - M M - D D):")
    for n in names:
        digits = reports[n]["alignment_by_digit"]
        shown = " ".join(f"{digits[r]:.2f}" if r in digits else "  - " for r in range(10))
        lines.append(f"  {n.ljust(col)}{shown}")
    return "\n".join(lines)


def plot_accuracy_by_length(results: dict[str, dict[int, float]], title: str = "reversing digit strings: exact match by input length") -> Any:
    """Exact-match accuracy against input length, one line per model: {label: accuracy_by_length(...)}."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.4), layout="constrained")
    styles = [("#0072B2", "o", "-"), ("#D55E00", "s", "--"), ("#009E73", "^", ":")]
    for (label, by_length), (color, marker, line) in zip(results.items(), styles):
        lengths = sorted(int(n) for n in by_length)
        ax.plot(lengths, [100 * by_length[n] for n in lengths], marker=marker, linestyle=line, color=color, label=label)
    ax.set_xlabel("input length (digits)")
    ax.set_ylabel("exact match (%)")
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize=9)
    ax.set_title(title, fontsize=10)
    return fig


def plot_training(names: Sequence[str]) -> Any:
    """Training loss (log scale) of shipped models, from their training.json: nothing is re-trained."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.0), layout="constrained")
    for name in names:
        curve = np.asarray(training_info(name)["loss_curve"])
        ax.plot(curve[:, 0], curve[:, 1], label=name)
    ax.set_yscale("log")
    ax.set_xlabel("training step (64 examples each)")
    ax.set_ylabel("cross-entropy (nats)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("training loss, from each model's training.json", fontsize=10)
    return fig


def describe(model: Seq2Seq) -> str:
    """One line: what the model is and how many parameters it has."""
    c = model.config
    scorer = {"bahdanau": f"additive attention (dim {c.attention_dim})", "luong": "general (Luong) attention", "none": "no attention"}[c.attention]
    return (f"embeddings {c.embed}, bidirectional GRU encoder {c.encoder} per direction, GRU decoder {c.decoder}, {scorer}: "
            f"{n_parameters(model):,} parameters ({4 * n_parameters(model) / 1024:.0f} KB as float32)")


# ---- the text box -------------------------------------------------------------------------------


def check_input(model: Seq2Seq, text: str) -> str | None:
    """Why a typed text cannot be translated (a sentence for the student), or None when it can."""
    if not isinstance(text, str) or not text.strip():
        return "Type a date first, for example 'the 3rd of March 1998' or 'Tue, Mar 3, 1998'."
    if len(text) > MAX_SOURCE:
        return f"That is {len(text)} characters; this model reads at most {MAX_SOURCE} (the dates it learned are at most 37). Shorten it."
    if bad := sorted(set(text) - set(model.config.source_chars)):
        shown = " ".join(repr(b) for b in bad)
        return (f"The model cannot read {shown}: it only knows the characters of the dates it was trained on "
                f"(digits, spaces, commas, hyphens and the letters of month and weekday names, ordinals, 'the' and 'of').")
    return None


class DateBox:
    """Type a date in your own words: the model's ISO output, the rule-based answer, and the alignment.

    ``DateBox(model).widget`` is a text box, a message line and an AlignmentView that is updated
    (``view.show``) for every new date. Text the model cannot read gives a message, not a traceback.
    """

    def __init__(self, model: Seq2Seq, value: str = "Tuesday the 3rd of March, 1998") -> None:
        import ipywidgets as widgets

        from ..views import AlignmentView

        self.model = model
        self.output: str | None = None
        self.text = widgets.Text(value=value, placeholder="e.g. 3 March 1998", description="your date:", continuous_update=False,
                                 layout=widgets.Layout(width="420px"))
        self.message = widgets.HTML()
        self.view = AlignmentView(attention_record(model, "3 March 1998"), title="your date")
        self.widget = widgets.VBox([self.text, self.message, self.view])
        self.text.observe(lambda change: self.update(change["new"]), "value")
        self.update(value)

    def _say(self, html_text: str, ok: bool) -> None:
        color = "#1f2328" if ok else "#b42318"
        self.message.value = f"<div style='font-family:sans-serif;color:{color};padding:4px 0'>{html_text}</div>"

    def update(self, text: str) -> None:
        """Translate `text` and show it (what typing in the box does)."""
        import html

        if problem := check_input(self.model, text):
            self.output = None
            self._say(html.escape(problem, quote=False) + " (The view below still shows the last date it could read.)", ok=False)
            return
        try:
            record = attention_record(self.model, text)
        except ValueError as err:
            self.output = None
            self._say(html.escape(str(err), quote=False), ok=False)
            return
        self.output = out = "".join(" " if c == "\u00b7" else c for c in record.query_tokens)
        truth = parse_date(text)
        try:
            dt.date.fromisoformat(out)
            real = ""
        except ValueError:
            real = " That is not a real calendar date."
        if truth is None:
            verdict = (f"The rule-based reader cannot read this as one of the trained forms (or the weekday does not fit the date), "
                       f"so there is no right answer to compare with.{real}")
        elif truth == out:
            verdict = "✓ right (the rule-based reader agrees)."
        else:
            verdict = f"✗ wrong: it means <b>{truth}</b>.{real}"
        self._say(f"model: <b><code>{html.escape(out)}</code></b> &nbsp; {verdict}", ok=True)
        self.view.title = f"alignment for {text!r}"
        self.view.show(record)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


# ---- exercises ----------------------------------------------------------------------------------


def _additive_reference(s: torch.Tensor, H: torch.Tensor, W: torch.Tensor, U: torch.Tensor, b: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.softmax(torch.tanh(H @ U.T + b + W @ s) @ v, dim=0)  # [S]


def exercise_tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    """Small tensors for exercise 1: a decoder state s [3], encoder states H [5, 4], W [2, 3], U [2, 4], b [2], v [2]."""
    g = torch.Generator().manual_seed(seed)
    shapes = {"s": (3,), "H": (5, 4), "W": (2, 3), "U": (2, 4), "b": (2,), "v": (2,)}
    return {k: torch.randn(*shape, generator=g) for k, shape in shapes.items()}


def _as_vector(value: Any) -> np.ndarray | None:
    try:
        return np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def check_additive(function: Any) -> exercises.Feedback:
    """Exercise 1: additive_weights(s, H, W, U, b, v) -> softmax_j(v . tanh(W s + U h_j + b)), a vector [S]."""
    cases = [exercise_tensors(seed) for seed in (0, 1, 2)]
    for case in cases:
        got, problem = exercises.attempt(function, **{k: t.clone() for k, t in case.items()})
        if problem is not None:
            return problem
        got = _as_vector(got)
        want = _additive_reference(**case).numpy()
        if got is None or got.shape != want.shape:
            shape = None if got is None else got.shape
            return exercises.wrong(f"expected one weight per source position, shape {want.shape}; got {shape}.",
                                   "H has one row per source character: the scores e_j are a vector over j, [S].")
        if np.allclose(got, want, atol=1e-5):
            continue
        scores = (torch.tanh(case["H"] @ case["U"].T + case["b"] + case["W"] @ case["s"]) @ case["v"]).numpy()
        if np.allclose(got, scores, atol=1e-5):
            return exercises.wrong("these are the scores e_j; the weights are their softmax.", "apply torch.softmax(e, dim=0): the weights must sum to 1.")
        no_tanh = torch.softmax((case["H"] @ case["U"].T + case["b"] + case["W"] @ case["s"]) @ case["v"], 0).numpy()
        if np.allclose(got, no_tanh, atol=1e-5):
            return exercises.wrong("close, but the tanh is missing.", "the score is v . tanh(W s + U h_j + b): the tanh comes before the product with v.")
        no_bias = torch.softmax(torch.tanh(case["H"] @ case["U"].T + case["W"] @ case["s"]) @ case["v"], 0).numpy()
        if np.allclose(got, no_bias, atol=1e-5):
            return exercises.wrong("close, but the bias b is missing.", "add b inside the tanh: tanh(W s + U h_j + b).")
        if abs(got.sum() - 1) > 1e-4:
            return exercises.wrong(f"the weights sum to {got.sum():.3f}, not 1.", "finish with a softmax over the source positions.")
        return exercises.wrong("the weights differ from v . tanh(W s + U h_j + b) followed by a softmax.",
                               "check the shapes: W s is [2], U h_j is [2] for every j (H @ U.T is [5, 2]), v turns each row into one score.")
    return exercises.right("Right: additive scores, then a softmax over the source. This is what the dates model computes at every decoding step.")


def _precision_reference(weights: np.ndarray, rows: Sequence[int], start: int, stop: int) -> float:
    return float(np.asarray(weights)[list(rows), start:stop].sum(1).mean())


def check_precision(function: Any) -> exercises.Feedback:
    """Exercise 2: precision(weights, rows, start, stop) -> mean over rows of the attention on columns start:stop."""
    rng = np.random.default_rng(5)
    cases = []
    for n_cols, rows, span in ((12, [5, 6], (3, 8)), (20, [0, 1, 2, 3], (15, 19)), (9, [8, 9], (0, 2))):
        w = rng.dirichlet(np.full(n_cols, 0.4), size=10)
        cases.append((w, rows, *span))
    for w, rows, start, stop in cases:
        got, problem = exercises.attempt(function, w.copy(), list(rows), start, stop)
        if problem is not None:
            return problem
        try:
            got = float(got)
        except (TypeError, ValueError):
            return exercises.wrong(f"expected one number, got {type(got).__name__}.", "sum over the span's columns, then average over the rows: a single float.")
        want = _precision_reference(w, rows, start, stop)
        if abs(got - want) < 1e-6:
            continue
        sub = w[list(rows), start:stop]
        if abs(got - sub.sum()) < 1e-6:
            return exercises.wrong(f"{got:.3f} is the total over all the field's rows, not their mean.", "average over the rows (each row sums to 1, so a share is at most 1).")
        if abs(got - sub.mean()) < 1e-6:
            return exercises.wrong(f"{got:.3f} is the mean of single cells.", "add the weights across the span's columns first (.sum(1)), then average over the rows.")
        if abs(got - w[list(rows), start:stop + 1].sum(1).mean()) < 1e-6 or abs(got - w[list(rows), start - 1:stop].sum(1).mean()) < 1e-6:
            return exercises.wrong("off by one column.", "a span (start, stop) is like a Python slice: columns start .. stop-1.")
        return exercises.wrong(f"got {got:.4f}, expected {want:.4f}.", "take rows `rows` and columns start:stop, sum over the columns, average over the rows.")
    return exercises.right("Right: this is the alignment precision the notebook reports for each field.")


def month_step(record: AttentionRecord, example: DateExample) -> int:
    """The decoding step (slider value, 1-based) whose attention puts the most weight on the month's source characters."""
    start, stop = example.spans["month"]
    return int(record.weights[0, 0][:, start:stop].sum(1).argmax()) + 1


def check_month_step(value: Any, record: AttentionRecord, example: DateExample) -> exercises.Feedback:
    """Exercise 3: the step of the AlignmentView's slider at which the model reads the month most."""
    if exercises.is_unanswered(value):
        return exercises.unanswered()
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return exercises.wrong(f"expected a whole number (a slider step), got {value!r}.", "move the step slider and read the number beside it.")
    truth = month_step(record, example)
    start, stop = example.spans["month"]
    share = record.weights[0, 0][:, start:stop].sum(1)
    if value == truth:
        return exercises.right(f"Right: at step {truth} the model writes {record.query_tokens[truth - 1]!r} and puts {100 * share[truth - 1]:.0f}% of its attention on the month.")
    if not 1 <= value <= record.n_queries:
        return exercises.wrong(f"step {value} does not exist: the slider goes from 1 to {record.n_queries}.", "steps count the output characters decoded so far, from 1.")
    if value - 1 in OUTPUT_ROWS["month"] or value in OUTPUT_ROWS["month"]:
        return exercises.wrong(f"close: step {value} puts {100 * share[value - 1]:.0f}% on the month, but another step puts more.",
                               "the slider counts from 1 (step 1 writes the first character); compare the two month digits.")
    return exercises.wrong(f"at step {value} the model writes {record.query_tokens[value - 1]!r} and puts only {100 * share[value - 1]:.0f}% of its attention on the month.",
                           "the month digits are characters 6 and 7 of YYYY-MM-DD.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attnwidgets.course.seq2seq", description="Train the seq2seq models of notebook 02 into data/.")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model and write data/<name>/")
    t.add_argument("name", choices=[*PRESETS, "all"], help="which model ('all': every one, one after another)")
    t.add_argument("--steps", type=int, help="override the preset's steps (for a quick try; the shipped models use the preset)")
    t.add_argument("--seed", type=int, help="override the seed")
    t.add_argument("--out", type=pathlib.Path, default=DATA_DIR, help="folder to write <name>/ into (default: the repository's data/)")
    args = parser.parse_args(argv)
    for name in PRESETS if args.name == "all" else [args.name]:
        settings = PRESETS[name]
        if args.steps:
            settings = replace(settings, steps=args.steps)
        if args.seed is not None:
            settings = replace(settings, seed=args.seed)
        model, info = train(settings)
        folder = save(model, info, name, args.out)
        final = info["final"]
        summary = final.get("accuracy_by_form") or final.get("accuracy_by_bucket")
        print(f"{name}: {info['parameters']} parameters, {info['seconds']} s, held-out accuracy {json.dumps(summary)}")
        if "alignment_precision" in final:
            print(f"{name}: alignment precision {json.dumps(final['alignment_precision'])}")
        print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
