"""Tiny randomly initialised Hugging Face models, one per family, for tests/test_families.py.

No download: every model is built from a config of a few layers and hidden size 32-48, and every
text model reads the vocabulary of ``tiny_tokenizer()``, a word-level tokenizer made in memory.
``FAMILIES`` is also the README's table of what capture() is proven on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import torch

# token ids shared by the tokenizer and every config
PAD, UNK, CLS, SEP, BOS, EOS = range(6)
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "<s>", "</s>"]
WORDS = (
    "the quick brown fox jumps over lazy dog a cat sat on mat attention is all you need "
    "query key value head layer token short one much longer sentence than first . , ! ?"
).split()
VOCAB = 64  # every text config and the tokenizer: spare ids are words too, so any generated id reads back
WORDS += [f"w{i}" for i in range(VOCAB - len(SPECIALS) - len(WORDS))]

TEXT = "the quick brown fox jumps over the lazy dog ."
SHORT, LONG = "a cat sat .", "attention is all you need , the quick brown fox said ."
TARGET = "the cat sat on the mat ."


@lru_cache(maxsize=None)
def tiny_tokenizer(style: str):
    """A word-level tokenizer over WORDS. style: "bert" ([CLS] text [SEP], a [PAD] token),
    "gpt" (no specials, no pad token: like GPT-2 and LLaMA), "llama" (<s> text, no pad token),
    "seq2seq" (text </s>, a [PAD] token)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    specials = {"unk_token": "[UNK]", "bos_token": "<s>", "eos_token": "</s>", "cls_token": "[CLS]", "sep_token": "[SEP]"}
    template = {"bert": ("[CLS] $A [SEP]", ["[CLS]", "[SEP]"]), "llama": ("<s> $A", ["<s>"]), "seq2seq": ("$A </s>", ["</s>"])}.get(style)
    if template is not None:
        single, used = template
        tok.post_processor = processors.TemplateProcessing(single=single, special_tokens=[(t, vocab[t]) for t in used])
    if style in ("bert", "seq2seq"):
        specials["pad_token"] = "[PAD]"
    return PreTrainedTokenizerFast(tokenizer_object=tok, **specials)


@dataclass(frozen=True)
class Family:
    """One model family: how to build a tiny one and what capture() must say about it."""

    name: str  # as the README names it
    model_class: str  # a transformers class
    config_class: str
    config: dict
    arch: str  # "encoder", "decoder", "encoder-decoder", "vision", "audio"
    layer: str  # the first self-attention layer's module path (encoder's for encoder-decoders)
    decoder_layer: str | None = None
    cross_layer: str | None = None
    tokenizer: str | None = None  # tiny_tokenizer style for text families
    kv_heads: tuple[int, ...] | None = None  # grouped-query attention
    prefix: tuple[str, ...] = ()  # vision: the labels before the patches ([CLS], [DIST], registers)
    image: tuple[int, int] | None = None  # vision: (height, width) the tests feed
    patch: int | None = None
    notes: str = ""
    extra_inputs: tuple[str, ...] = field(default_factory=tuple)  # README: input kinds besides the arch's

    @property
    def text(self) -> bool:
        return self.arch in ("encoder", "decoder", "encoder-decoder")

    @property
    def self_kind(self) -> str:
        return "causal" if self.arch == "decoder" else "self"

    @property
    def grid(self) -> tuple[int, int] | None:
        return None if self.image is None else (self.image[0] // self.patch, self.image[1] // self.patch)

    def build(self, attn_implementation: str | None = "eager", seed: int = 0) -> torch.nn.Module:
        import transformers

        config = getattr(transformers, self.config_class)(**self.config)
        if attn_implementation is not None:
            config._attn_implementation = attn_implementation
        torch.manual_seed(seed)
        return getattr(transformers, self.model_class)(config).eval()


_ENC = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, pad_token_id=PAD)
_DEC = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS)
# SmolLM2's shape of grouped-query attention: 9 query heads over 3 key/value heads
_GQA = dict(_DEC, hidden_size=36, num_attention_heads=9, num_key_value_heads=3)
_GQA_HEADS = (0, 0, 0, 1, 1, 1, 2, 2, 2)
_S2S = dict(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37,
            max_position_embeddings=64, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, decoder_start_token_id=EOS, forced_eos_token_id=None)
_VIT = dict(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)

FAMILIES: dict[str, Family] = {f.name: f for f in [
    # text encoders
    Family("BERT", "BertModel", "BertConfig", _ENC, "encoder", "encoder.layer.0.attention.self", tokenizer="bert"),
    Family("RoBERTa", "RobertaModel", "RobertaConfig", _ENC, "encoder", "encoder.layer.0.attention.self", tokenizer="bert"),
    Family("DistilBERT", "DistilBertModel", "DistilBertConfig", dict(vocab_size=VOCAB, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64, pad_token_id=PAD),
           "encoder", "transformer.layer.0.attention", tokenizer="bert"),
    Family("ELECTRA", "ElectraModel", "ElectraConfig", dict(_ENC, embedding_size=16), "encoder", "encoder.layer.0.attention.self", tokenizer="bert"),
    # text decoders
    Family("GPT-2", "GPT2LMHeadModel", "GPT2Config", dict(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=BOS, eos_token_id=EOS),
           "decoder", "transformer.h.0.attn", tokenizer="gpt"),
    Family("LLaMA", "LlamaForCausalLM", "LlamaConfig", _GQA, "decoder", "model.layers.0.self_attn", tokenizer="llama", kv_heads=_GQA_HEADS),
    Family("Qwen2", "Qwen2ForCausalLM", "Qwen2Config", _GQA, "decoder", "model.layers.0.self_attn", tokenizer="gpt", kv_heads=_GQA_HEADS),
    Family("Mistral", "MistralForCausalLM", "MistralConfig", dict(_GQA, sliding_window=6), "decoder", "model.layers.0.self_attn", tokenizer="llama", kv_heads=_GQA_HEADS,
           notes="sliding window of 6 tokens"),
    Family("Gemma", "GemmaForCausalLM", "GemmaConfig", dict(_DEC, num_key_value_heads=1, head_dim=8), "decoder", "model.layers.0.self_attn", tokenizer="llama",
           kv_heads=(0, 0, 0, 0), notes="multi-query"),
    Family("Phi-3", "Phi3ForCausalLM", "Phi3Config", dict(_DEC, num_key_value_heads=2), "decoder", "model.layers.0.self_attn", tokenizer="llama", kv_heads=(0, 0, 1, 1)),
    Family("OPT", "OPTForCausalLM", "OPTConfig", dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=37, max_position_embeddings=64,
           word_embed_proj_dim=32, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS), "decoder", "model.decoder.layers.0.self_attn", tokenizer="gpt"),
    Family("GPT-NeoX", "GPTNeoXForCausalLM", "GPTNeoXConfig", _DEC, "decoder", "gpt_neox.layers.0.attention", tokenizer="gpt"),
    # encoder-decoders
    Family("T5", "T5ForConditionalGeneration", "T5Config", dict(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2, num_heads=4,
           pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD), "encoder-decoder", "encoder.block.0.layer.0.SelfAttention",
           decoder_layer="decoder.block.0.layer.0.SelfAttention", cross_layer="decoder.block.0.layer.1.EncDecAttention", tokenizer="seq2seq"),
    Family("BART", "BartForConditionalGeneration", "BartConfig", _S2S, "encoder-decoder", "model.encoder.layers.0.self_attn",
           decoder_layer="model.decoder.layers.0.self_attn", cross_layer="model.decoder.layers.0.encoder_attn", tokenizer="seq2seq"),
    Family("Marian", "MarianMTModel", "MarianConfig", dict(_S2S, decoder_vocab_size=VOCAB, decoder_start_token_id=PAD), "encoder-decoder", "model.encoder.layers.0.self_attn",
           decoder_layer="model.decoder.layers.0.self_attn", cross_layer="model.decoder.layers.0.encoder_attn", tokenizer="seq2seq"),
    Family("Pegasus", "PegasusForConditionalGeneration", "PegasusConfig", dict(_S2S, decoder_start_token_id=PAD), "encoder-decoder", "model.encoder.layers.0.self_attn",
           decoder_layer="model.decoder.layers.0.self_attn", cross_layer="model.decoder.layers.0.encoder_attn", tokenizer="seq2seq"),
    # vision transformers (the tests feed 32x48 images: 4 x 6 patches, so rows and columns cannot be swapped unseen)
    Family("ViT", "ViTForImageClassification", "ViTConfig", dict(_VIT, image_size=[32, 48], num_labels=3), "vision", "vit.layers.0.attention",
           prefix=("[CLS]",), image=(32, 48), patch=8),
    Family("DeiT", "DeiTModel", "DeiTConfig", dict(_VIT, image_size=[32, 48]), "vision", "layers.0.attention", prefix=("[CLS]", "[DIST]"), image=(32, 48), patch=8,
           notes="[DIST]: the distillation token"),
    Family("DINOv2 with registers", "Dinov2WithRegistersModel", "Dinov2WithRegistersConfig", dict(_VIT, num_register_tokens=4), "vision", "encoder.layer.0.attention",
           prefix=("[CLS]", "[REG1]", "[REG2]", "[REG3]", "[REG4]"), image=(32, 48), patch=8, notes="any image size (interpolated positions)"),
    Family("CLIP (vision)", "CLIPVisionModel", "CLIPVisionConfig", dict(_VIT, image_size=32), "vision", "encoder.layers.0.self_attn",
           prefix=("[CLS]",), image=(32, 32), patch=8),
    Family("SigLIP (vision)", "SiglipVisionModel", "SiglipVisionConfig", dict(_VIT, image_size=32), "vision", "encoder.layers.0.self_attn",
           image=(32, 32), patch=8, notes="no [CLS]: every position is a patch"),
    # speech
    Family("Whisper", "WhisperForConditionalGeneration", "WhisperConfig", dict(vocab_size=VOCAB, num_mel_bins=8, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
           decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, d_model=32, max_source_positions=16, max_target_positions=32, pad_token_id=PAD, bos_token_id=BOS,
           eos_token_id=EOS, decoder_start_token_id=BOS, begin_suppress_tokens=None, suppress_tokens=None), "audio", "model.encoder.layers.0.self_attn",
           decoder_layer="model.decoder.layers.0.self_attn", cross_layer="model.decoder.layers.0.encoder_attn", tokenizer="seq2seq"),
]}

N_MELS, N_FRAMES = 8, 32  # Whisper: 8 mel bins x 32 frames -> 16 encoder positions (stride 2)

# the input kinds each architecture is tested with (tests/test_families.py)
INPUT_KINDS = {
    "encoder": "text + tokenizer; token ids + attention mask (no tokenizer); padded batch",
    "decoder": "text + tokenizer; token ids + attention mask; padded batch (right and left); generation step by step",
    "encoder-decoder": "source and target text + tokenizer; ids + decoder ids; padded source batch with one target; generation",
    "vision": "pixel_values (patch grid, [CLS]/registers flagged)",
    "audio": "input_features + decoder ids, or + target ids/text; generation",
}
KINDS = {"encoder": "self", "decoder": "causal", "encoder-decoder": "self, causal, cross", "vision": "self", "audio": "self, causal, cross"}


def readme_table() -> str:
    """The README's table of tested families, from FAMILIES (python tests/families.py)."""
    lines = ["| family | class tested | attention kinds | inputs | heads, positions |", "|---|---|---|---|---|"]
    for f in FAMILIES.values():
        heads = []
        if f.kv_heads is not None:
            n_kv = max(f.kv_heads) + 1
            heads.append(f"{len(f.kv_heads)} query heads over {n_kv} key/value head{'s' if n_kv > 1 else ''}")
        if f.grid is not None:
            heads.append(f"{f.grid[0]}x{f.grid[1]} patch grid" + (f" after {', '.join(f.prefix)}" if f.prefix else ""))
        if f.notes:
            heads.append(f.notes)
        lines.append(f"| {f.name} | `{f.model_class}` | {KINDS[f.arch]} | {INPUT_KINDS[f.arch]} | {'; '.join(heads)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_table())
