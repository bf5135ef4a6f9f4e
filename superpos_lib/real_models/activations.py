"""Record activations at a site over a corpus, in batches, stopping the forward pass at the site's
block, and keep what is needed to show each token in context."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Sequence

import torch

from .. import _validate as v
from ._checks import blocks, check_model_layer_texts, check_tokenizer, family
from .cache import _save, cache_dir
from .corpus import corpus_hash
from .hooks import SITES, run_until, site_module

__all__ = ["Activations", "collect_activations", "detokenize", "vocabulary"]

_VERSION = 3


@dataclass
class Activations:
    """Activations at one site for a stream of tokens, with what is needed to show them in context.

    Attributes:
        acts: ``(n_tokens, d)`` float32 activations (CPU).
        token_ids: ``(n_tokens,)`` int64 token ids (MiniLM: special and padding tokens excluded).
        doc_index: ``(n_tokens,)`` int64 index of each token's text in the ``texts`` given.
        position: ``(n_tokens,)`` int64 position of the token in its text (0 = first token).
        vocab: ``list[str]`` id -> token string (WordPiece pieces, or decoded BPE pieces).
        meta: the settings that produced the activations (also the cache key).
        wordpiece: ``True`` for WordPiece tokens (``##`` continues a word), ``False`` for byte-level
            BPE pieces, which join by plain concatenation.
    Tokens of one text are contiguous and in order, so neighbours in the stream are neighbours in the text.
    """

    acts: torch.Tensor
    token_ids: torch.Tensor
    doc_index: torch.Tensor
    position: torch.Tensor
    vocab: list[str]
    meta: dict
    wordpiece: bool = True

    def __post_init__(self):
        v.tensor("acts", self.acts, ndim=2, finite=False)
        n = self.acts.shape[0]
        for name in ("token_ids", "doc_index", "position"):
            t = getattr(self, name)
            if not isinstance(t, torch.Tensor) or t.is_floating_point() or t.dtype == torch.bool or t.shape != (n,):
                raise ValueError(f"{name} must be an integer tensor of shape (n_tokens,) = ({n},), one entry per row "
                                 f"of acts, got {type(t).__name__ if not isinstance(t, torch.Tensor) else f'{t.dtype} tensor of shape {tuple(t.shape)}'}")
        if isinstance(self.vocab, str) or not isinstance(self.vocab, (list, tuple)) or (
                self.vocab and not isinstance(self.vocab[0], str)):
            raise ValueError(f"vocab must be a list of token strings (id -> string), got {type(self.vocab).__name__}")
        if n and (self.token_ids.min() < 0 or self.token_ids.max() >= len(self.vocab)):
            raise ValueError(f"token_ids must lie in [0, len(vocab) - 1] = [0, {len(self.vocab) - 1}]")
        if not isinstance(self.meta, dict):
            raise ValueError(f"meta must be a dict of the settings, got {type(self.meta).__name__}")
        v.boolean("wordpiece", self.wordpiece)

    def __len__(self) -> int:
        return self.acts.shape[0]

    def tokens(self, indices: Sequence[int] | torch.Tensor | None = None) -> list[str]:
        """Token strings of the given stream indices (all tokens by default)."""
        if indices is None:
            ids = self.token_ids
        else:
            idx = v.real_values("indices", indices, ndim=(0, 1), integer=True, dtype=torch.long)
            if idx.numel() and (idx.min() < 0 or idx.max() >= len(self)):
                raise ValueError(f"indices must lie in [0, {len(self) - 1}] (positions in the token stream)")
            ids = self.token_ids[idx.reshape(-1)]
        return [self.vocab[i] for i in ids.tolist()]

    def context(self, index: int, window: int = 8, mark: tuple[str, str] = ("[[", "]]")) -> str:
        """The text around token ``index``: up to ``window`` tokens either side from the same
        text, detokenized, with the token itself wrapped in ``mark``."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self):
            raise ValueError(f"index must be an int in [0, {len(self) - 1}], got {index!r}")
        v.non_negative_int("window", window)
        if not (isinstance(mark, (tuple, list)) and len(mark) == 2 and all(isinstance(m, str) for m in mark)):
            raise ValueError(f"mark must be a pair of strings (before, after), got {mark!r}")
        doc = self.doc_index[index]
        lo, hi = max(0, index - window), min(len(self), index + window + 1)
        same = (self.doc_index[lo:hi] == doc).nonzero().flatten() + lo
        lo, hi = int(same.min()), int(same.max()) + 1
        pieces = self.tokens(range(lo, hi))
        k = index - lo
        token = pieces[k]
        if self.wordpiece:
            pieces[k] = (("##" if token.startswith("##") else "") + mark[0] + token.removeprefix("##") + mark[1])
            return detokenize(pieces)
        stripped = token.lstrip(" ")
        pieces[k] = token[: len(token) - len(stripped)] + mark[0] + stripped + mark[1]
        return "".join(pieces).replace("\n", "⏎").strip()

    def select(self, keep: torch.Tensor) -> "Activations":
        """A new :class:`Activations` with only the tokens where the boolean ``keep (n_tokens,)`` is true
        (e.g. ``store.position > 0`` to leave out every text's first token)."""
        if not isinstance(keep, torch.Tensor) or keep.dtype != torch.bool or keep.shape != (len(self),):
            raise ValueError(f"keep must be a bool tensor of shape ({len(self)},)")
        return Activations(self.acts[keep], self.token_ids[keep], self.doc_index[keep], self.position[keep],
                           self.vocab, {**self.meta, "selected": int(keep.sum())}, self.wordpiece)


def detokenize(pieces: Sequence[str]) -> str:
    """Join WordPiece tokens into text: ``["un", "##believ", "##able", "!"]`` -> ``"unbelievable !"``."""
    pieces = v.strings("pieces", pieces, allow_empty=True)
    out = ""
    for piece in pieces:
        if piece.startswith("##"):
            out += piece[2:]
        else:
            out += (" " if out else "") + piece
    return out


def vocabulary(tokenizer, wordpiece: bool) -> list[str]:
    """id -> display string for every token: WordPiece pieces as they are, BPE pieces decoded."""
    check_tokenizer(tokenizer)
    v.boolean("wordpiece", wordpiece)
    ids = list(range(len(tokenizer)))
    if wordpiece:
        return tokenizer.convert_ids_to_tokens(ids)
    return tokenizer.batch_decode([[i] for i in ids])


def _model_name(model) -> str:
    # Models load from a local folder, so _name_or_path is a path: keep its last two parts, which
    # name the model and not the machine, so the cache key is the same in every checkout.
    config = getattr(model, "config", None)
    name = str(getattr(config, "_name_or_path", "") or type(model).__name__)
    return "/".join(name.replace("\\", "/").rstrip("/").split("/")[-2:])


def collect_activations(
    model,
    tokenizer,
    texts: Sequence[str],
    layer: int,
    site: str | Sequence[str] = "resid",
    *,
    max_tokens: int = 60_000,
    batch_size: int = 32,
    max_length: int = 128,
    cache: bool = True,
    progress: bool = True,
):
    """Run the model over ``texts`` and record the activations at one site (or several) of one block.

    Texts are taken in order until ``max_tokens`` tokens are collected (the last one is cut); each
    text is truncated to ``max_length`` tokens. MiniLM: ``[CLS]`` and ``[SEP]`` are added (the model
    expects them) and not recorded. SmolLM2: no token is added (every text starts at its first word,
    which is then the attention sink, position 0) and every token is recorded. Texts are batched in
    order of length (padding is masked out, and a causal model cannot see right padding); the stream
    is in text order. The forward pass stops after block ``layer``.

    Args:
        model, tokenizer: from :func:`load_minilm` or :func:`load_smollm`.
        texts: non-empty list of strings.
        layer: block index, ``0 <= layer < n_layers``.
        site: ``"resid"`` or ``"mlp"`` (see the package docstring), or a tuple of both.
        max_tokens, batch_size, max_length: positive ints (MiniLM: ``max_length >= 3``).
        cache: read/write ``cache_dir()/<key>.pt``; the key hashes the model name, layer, sites,
            :func:`corpus_hash` of the texts, ``max_tokens``, ``batch_size`` and ``max_length``.
        progress: show a tqdm bar over tokens.

    Returns:
        :class:`Activations` with ``acts (n_tokens, d)``, ``n_tokens <= max_tokens``; for a tuple of
        sites, a dict ``{site: Activations}`` sharing one token stream.
    """
    texts = check_model_layer_texts(model, layer, texts)
    check_tokenizer(tokenizer)
    kind = family(model)
    if not isinstance(site, (str, tuple, list)):
        raise ValueError(f"site must be one of {SITES} or a tuple of distinct ones, got {site!r}")
    sites = (site,) if isinstance(site, str) else tuple(site)
    if not sites or len(set(sites)) != len(sites):
        raise ValueError(f"site must be one of {SITES} or a tuple of distinct ones, got {site!r}")
    for s in sites:
        v.one_of("site", s, SITES)
    max_tokens = v.positive_int("max_tokens", max_tokens)
    batch_size = v.positive_int("batch_size", batch_size)
    max_length = v.positive_int("max_length", max_length)
    n_special = 2 if kind == "bert" else 0
    if max_length < n_special + 1:
        raise ValueError(f"max_length must be at least 3 ([CLS], one token, [SEP]), got {max_length}")

    meta = {
        "version": _VERSION, "model": _model_name(model), "layer": layer, "sites": list(sites),
        "corpus": corpus_hash(texts), "max_tokens": max_tokens, "batch_size": batch_size, "max_length": max_length,
    }
    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:20]
    slug = meta["model"].replace("/", "_").replace("\\", "_")[-40:]
    path = cache_dir() / f"{slug}_L{layer}_{'+'.join(sites)}_{meta['corpus'][:12]}_{max_tokens}_{key}.pt"
    wordpiece = kind == "bert"
    vocab = vocabulary(tokenizer, wordpiece)

    def build(stored):
        out = {s: Activations(stored["acts"][s], stored["token_ids"], stored["doc_index"], stored["position"],
                              vocab, {**meta, "site": s}, wordpiece) for s in sites}
        return out[sites[0]] if isinstance(site, str) else out

    if cache and path.is_file():
        return build(torch.load(path, map_location="cpu", weights_only=True))

    from tqdm.auto import tqdm

    encoded = tokenizer(texts, add_special_tokens=wordpiece, truncation=True, max_length=max_length)["input_ids"]
    lengths = torch.tensor([len(ids) - n_special for ids in encoded])  # tokens we record per text
    n_docs = int(torch.searchsorted(lengths.cumsum(0), torch.tensor(max_tokens)).clamp(max=len(texts) - 1)) + 1
    order = sorted(range(n_docs), key=lambda i: (len(encoded[i]), i))
    device = next(model.parameters()).device
    reads = [site_module(model, layer, s) for s in sites]
    stop = blocks(model)[layer]
    runner = model if kind == "bert" else model.model
    per_doc: dict[int, list[torch.Tensor]] = {}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    bar = tqdm(total=int(lengths[:n_docs].sum().clamp(max=max_tokens)), desc=f"layer {layer} {'+'.join(sites)}",
               unit="tok", disable=not progress)
    lo = 1 if wordpiece else 0
    try:
        for start in range(0, n_docs, batch_size):
            batch = order[start:start + batch_size]
            width = max(len(encoded[i]) for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, : len(encoded[i])] = 1
            outs = run_until(runner, reads, stop, {"input_ids": ids.to(device), "attention_mask": mask.to(device)})
            outs = [o.float().cpu() for o in outs]
            for row, i in enumerate(batch):
                hi = len(encoded[i]) - (1 if wordpiece else 0)
                per_doc[i] = [o[row, lo:hi].clone() for o in outs]
            bar.update(int(sum(len(encoded[i]) - n_special for i in batch)))
    finally:
        bar.close()
    acts = {s: torch.cat([per_doc[i][j] for i in range(n_docs)])[:max_tokens] for j, s in enumerate(sites)}
    token_ids = torch.cat([torch.tensor(encoded[i][lo:len(encoded[i]) - (1 if wordpiece else 0)], dtype=torch.long)
                           for i in range(n_docs)])[:max_tokens]
    doc_index = torch.cat([torch.full((int(lengths[i]),), i, dtype=torch.long) for i in range(n_docs)])[:max_tokens]
    position = torch.cat([torch.arange(int(lengths[i])) for i in range(n_docs)])[:max_tokens]
    stored = {"acts": acts, "token_ids": token_ids, "doc_index": doc_index, "position": position, "meta": meta}
    if cache:
        _save(stored, path)
    return build(stored)
