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
    (0, 1] (or [0, 1] with ``allow_zero``). ``dtype`` must be floating (an integer dtype would round
    every probability to 0 or 1)."""
    _dtype_arg("dtype", dtype)
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


# --- device, generator, dtype: the arguments nearly every function shares -----------------------


def device(name: str, value: Any) -> torch.device:
    """``None`` (the course default), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``."""
    from .device import _parse

    return _parse(value, name)


def generator(name: str, value: Any) -> torch.Generator | None:
    """``None`` or a ``torch.Generator``; a seed passed here (a likely mistake) says how to make one."""
    if value is None or isinstance(value, torch.Generator):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"{name} must be a torch.Generator or None, got the int {value!r}; "
                         f"to seed it, pass {name}=torch.Generator().manual_seed({value!r})")
    raise ValueError(f"{name} must be a torch.Generator or None, got {type(value).__name__}")


def sampling_device(device_value: Any, generator_value: Any, *, device_name: str = "device",
                    generator_name: str = "generator") -> torch.device:
    """Check ``device`` and ``generator`` together; returns the device to sample on: the
    generator's when one is given (a generator draws only on its own device)."""
    dev = device(device_name, device_value)
    gen = generator(generator_name, generator_value)
    if gen is None:
        return dev
    gen_dev = torch.device(gen.device)
    if device_value is not None and dev.type != gen_dev.type:
        raise ValueError(f"{generator_name} is on {gen_dev} but {device_name} is {dev}: "
                         f"make the generator with torch.Generator(device={str(dev)!r})")
    return gen_dev


def generator_on(name: str, value: Any, dev: torch.device) -> torch.Generator | None:
    """A ``torch.Generator`` (or ``None``) that draws on ``dev``'s device type."""
    gen = generator(name, value)
    if gen is not None and torch.device(gen.device).type != torch.device(dev).type:
        raise ValueError(f"{name} must be on {torch.device(dev).type} (where the tensors are), got a generator "
                         f"on {gen.device}: make it with torch.Generator(device={torch.device(dev).type!r})")
    return gen


def required_generator_on(name: str, value: Any, dev: torch.device) -> torch.Generator:
    """Like :func:`generator_on`, but ``None`` is refused: for samplers that own their generator."""
    if value is None:
        raise ValueError(f"{name} must be a torch.Generator (the sampler's own), got None")
    return generator_on(name, value, dev)


def dtype(name: str, value: Any, *, floating: bool = True) -> torch.dtype:
    """A ``torch.dtype``; with ``floating`` (the default) a floating-point one."""
    if not isinstance(value, torch.dtype):
        raise ValueError(f"{name} must be a torch.dtype such as torch.float32, got {value!r}")
    if floating and not value.is_floating_point:
        raise ValueError(f"{name} must be a floating-point dtype (torch.float32 or torch.float64), got {value}")
    return value


# --- plain values ----------------------------------------------------------------------------------


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def finite_float(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number, optionally within ``[low, high]`` (ends open with ``low_open``/``high_open``)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        where = ""
        if low is not None or high is not None:
            where = (f" in {'(' if low_open else '['}{'-inf' if low is None else f'{low:g}'}, "
                     f"{'inf' if high is None else f'{high:g}'}{')' if high_open else ']'}")
        raise ValueError(f"{name} must be a finite number{where}, got {value!r}")
    return float(value)


def int_in_range(name: str, value: Any, low: int, high: int) -> int:
    """An int with ``low <= value < high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value < high:
        raise ValueError(f"{name} must be an int in [{low}, {high - 1}], got {value!r}")
    return value


def strings(name: str, value: Any, *, allow_empty: bool = False) -> list[str]:
    """A sequence of strings (a list or tuple): never a bare string, which would be read character
    by character."""
    if isinstance(value, str):
        raise ValueError(f"{name} must be a list of strings, got a single string {value[:40]!r}: wrap it, [{name}]")
    try:
        items = list(value)
    except TypeError:
        raise ValueError(f"{name} must be a list of strings, got {type(value).__name__}") from None
    if not allow_empty and not items:
        raise ValueError(f"{name} must hold at least one string, got an empty list")
    bad = [x for x in items if not isinstance(x, str)]
    if bad:
        bad = bad[0]
        raise ValueError(f"{name} must hold only strings, got an item of type {type(bad).__name__}")
    return items


def instance(name: str, value: Any, cls: type | tuple[type, ...], what: str | None = None) -> Any:
    """``value`` must be an instance of ``cls`` (``what`` describes it in the message)."""
    if not isinstance(value, cls):
        if what is None:
            what = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise ValueError(f"{name} must be a {what}, got {type(value).__name__}")
    return value


# --- tensors: emptiness, finiteness, shapes and dtypes that must agree -------------------------------


def non_empty(name: str, value: torch.Tensor, dims: int | tuple[int, ...] | None = None,
              what: str = "entry") -> torch.Tensor:
    """At least one entry along each axis in ``dims`` (all axes by default), so that means and
    maxima are defined (an empty batch would give NaN or crash later)."""
    axes = range(value.ndim) if dims is None else ((dims,) if isinstance(dims, int) else dims)
    for axis in axes:
        if value.shape[axis] < 1:
            raise ValueError(f"{name} must hold at least one {what} along axis {axis}, got shape {tuple(value.shape)}")
    return value


def finite(name: str, value: torch.Tensor) -> torch.Tensor:
    if torch.is_floating_point(value) and not torch.isfinite(value).all():
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return value


def same_shape(name: str, value: torch.Tensor, other_name: str, other: torch.Tensor) -> torch.Tensor:
    if value.shape != other.shape:
        raise ValueError(f"{name} must have the shape of {other_name} {tuple(other.shape)}, got {tuple(value.shape)}")
    return value


def same_dtype(name: str, value: torch.Tensor, other_name: str, other: torch.Tensor) -> torch.Tensor:
    if value.dtype != other.dtype:
        raise ValueError(f"{name} must have the dtype of {other_name} ({other.dtype}), got {value.dtype}")
    return value


def same_size(name: str, value: torch.Tensor, dim: int, other_name: str, other: torch.Tensor,
              other_dim: int | None = None, what: str = "") -> torch.Tensor:
    """``value.shape[dim] == other.shape[other_dim]`` (e.g. the same number of instances)."""
    other_dim = dim if other_dim is None else other_dim
    if value.shape[dim] != other.shape[other_dim]:
        label = f" ({what})" if what else ""
        raise ValueError(f"{name} must have {other.shape[other_dim]} entries on axis {dim}{label} like {other_name} "
                         f"{tuple(other.shape)}, got shape {tuple(value.shape)}")
    return value


def broadcastable(name: str, value: torch.Tensor, shape: tuple[int, ...], what: str = "") -> torch.Tensor:
    """``value`` broadcast to ``shape``."""
    try:
        return torch.broadcast_to(value, shape)
    except RuntimeError:
        label = f" ({what})" if what else ""
        raise ValueError(f"{name} has shape {tuple(value.shape)}, which does not broadcast to {tuple(shape)}{label}") from None


def number_or_tensor(name: str, value: Any, *, like: torch.Tensor, low: float | None = None,
                     low_open: bool = False) -> torch.Tensor:
    """A real number or a real tensor (finite, ``>= low`` / ``> low``), as a tensor of ``like``'s
    dtype and device."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise ValueError(f"{name} must be a real number or tensor, got a {value.dtype} tensor")
        t = value.to(dtype=like.dtype, device=like.device)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        t = torch.tensor(float(value), dtype=like.dtype, device=like.device)
    else:
        raise ValueError(f"{name} must be a number or a tensor, got {type(value).__name__}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    if low is not None and ((t <= low) if low_open else (t < low)).any():
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low:g}, got a minimum of {t.min().item():g}")
    return t


_dtype_arg = dtype  # for functions whose own ``dtype`` parameter hides this one


def real_values(name: str, value: Any, *, ndim: int | tuple[int, ...] | None = None, finite: bool = True,
                integer: bool = False, dtype=torch.float64) -> torch.Tensor:
    """A number, a sequence of numbers or a real tensor as a tensor (``dtype``, on the input's device):
    for arguments that accept plain lists as well as tensors. ``integer``: the values must be whole
    numbers (an integer tensor, or floats without a fractional part)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{name} must be a number, a sequence of numbers or a tensor, got {type(value).__name__}")
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise ValueError(f"{name} must hold real numbers, got a {value.dtype} tensor")
        t = value.detach()
    else:
        try:
            t = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{name} must be a number, a sequence of numbers or a tensor, got {type(value).__name__}") from None
        if t.dtype == torch.bool or t.is_complex():
            raise ValueError(f"{name} must hold real numbers, got {t.dtype} values")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if t.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {tuple(t.shape)}")
    if finite and t.is_floating_point() and not torch.isfinite(t).all():
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    if integer and t.is_floating_point() and (t != t.round()).any():
        raise ValueError(f"{name} must hold whole numbers, got a fractional value")
    return t.to(dtype)
