"""Argument checks shared by the library. Each raises ``ValueError`` naming the argument and
what was expected, before any work is done."""

from __future__ import annotations

import math
from typing import Any

import torch


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def positive_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def non_negative_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


def one_of(name: str, value: Any, options: tuple) -> Any:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(repr(o) for o in options)}; got {value!r}")
    return value


def tensor(name: str, value: Any, *, ndim: int | tuple[int, ...] | None = None, floating: bool = True,
           finite: bool = True) -> torch.Tensor:
    """Check that ``value`` is a tensor with the given number of dimensions, float dtype and
    finite entries."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if value.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {tuple(value.shape)}")
    if floating and not torch.is_floating_point(value):
        raise ValueError(f"{name} must have a floating-point dtype, got {value.dtype}")
    if finite and floating and not torch.isfinite(value).all():
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return value


def probability_tensor(name: str, value: Any, shape: tuple[int, ...], *, allow_zero: bool = False,
                       dtype=torch.float32, device=None) -> torch.Tensor:
    """A scalar, sequence or tensor of probabilities broadcast to ``shape``; each entry must lie in
    (0, 1] (or [0, 1] with ``allow_zero``)."""
    try:
        p = torch.as_tensor(value, dtype=dtype, device=device)
    except Exception:
        raise ValueError(f"{name} must be a number, a sequence or a tensor of probabilities, got {type(value).__name__}") from None
    try:
        p = torch.broadcast_to(p, shape)
    except RuntimeError:
        raise ValueError(f"{name} has shape {tuple(p.shape)}, which does not broadcast to {shape}") from None
    low_ok = (p >= 0) if allow_zero else (p > 0)
    if not (torch.isfinite(p).all() and low_ok.all() and (p <= 1).all()):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got values from {p.min().item():g} to {p.max().item():g}")
    return p
