"""The machinery every exercise checker shares: a registry, a result type and comparisons
that turn a wrong answer into a sentence a student can act on."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import torch

_REGISTRY: dict[str, Callable[[Callable], "CheckResult"]] = {}


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one exercise check. Its repr is the message, so a notebook cell that ends
    with ``check(...)`` shows one readable line."""

    exercise: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        mark = "PASSED" if self.passed else "NOT YET"
        return f"[{mark}] {self.exercise}: {self.message}"


class Mismatch(Exception):
    """Raised inside a checker to stop at the first problem found; carries the student message."""


def register(name: str):
    """Decorator that files a checker under ``name`` and wraps it so it always returns a
    :class:`CheckResult` (never a traceback) for whatever the student passes in."""

    def wrap(checker: Callable[[Callable], None]) -> Callable[[Any], CheckResult]:
        if name in _REGISTRY:
            raise ValueError(f"exercise name {name!r} is registered twice")

        def run(fn: Any) -> CheckResult:
            if not callable(fn):
                return CheckResult(
                    name,
                    False,
                    f"expected your function itself, got a {type(fn).__name__}. "
                    f"Pass the function without calling it, e.g. check({name!r}, my_function).",
                )
            try:
                checker(fn)
            except Mismatch as problem:
                return CheckResult(name, False, str(problem))
            return CheckResult(name, True, "all checks passed.")

        run.__name__ = checker.__name__
        run.__doc__ = checker.__doc__
        _REGISTRY[name] = run
        return run

    return wrap


def registered_exercises() -> list[str]:
    """Names of every exercise that has a checker, sorted."""
    return sorted(_REGISTRY)


def check(exercise: str, fn: Any) -> CheckResult:
    """Check a student's implementation of ``exercise`` against the reference.

    Returns a :class:`CheckResult`; end a notebook cell with this call to see its message.
    """
    if exercise not in _REGISTRY:
        known = ", ".join(registered_exercises()) or "(none)"
        raise ValueError(f"exercise must be one of: {known}; got {exercise!r}")
    return _REGISTRY[exercise](fn)


def call_student(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call the student's function; turn any exception into a one-line :class:`Mismatch`."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise Mismatch(
            "not implemented yet: replace the `raise NotImplementedError` line with your code."
        ) from None
    except Exception as error:  # the student's bug, reported in one line with where it happened
        frames = traceback.extract_tb(error.__traceback__)
        if isinstance(error, TypeError) and len(frames) == 1:  # the call itself failed: wrong signature
            raise Mismatch(
                f"your function could not be called the way the exercise specifies ({error}); "
                "keep the signature given in the exercise."
            ) from None
        frame = frames[-1]
        raise Mismatch(
            f"your function raised {type(error).__name__}: {error} "
            f"(line {frame.lineno}: `{(frame.line or '').strip()}`)"
        ) from None


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except Exception:
        raise Mismatch(f"{what} should be a tensor, got a {type(value).__name__}.") from None


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float, atol: float) -> bool:
    return a.shape == b.shape and torch.allclose(
        a.detach().to(torch.float64).cpu(), b.detach().to(torch.float64).cpu(), rtol=rtol, atol=atol
    )


def compare(
    got: Any,
    expected: torch.Tensor,
    *,
    what: str = "your output",
    diagnoses: Mapping[str, torch.Tensor] | Sequence[tuple[str, torch.Tensor]] = (),
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> None:
    """Raise :class:`Mismatch` with a useful sentence unless ``got`` matches ``expected``.

    ``diagnoses`` maps a message (e.g. "did you forget the ReLU?") to the output a typical
    wrong implementation gives; the first one that ``got`` matches is reported.
    """
    got = _as_tensor(got, what)
    items = list(diagnoses.items() if isinstance(diagnoses, Mapping) else diagnoses)
    if got.shape != expected.shape:
        for message, wrong in items:
            if _close(got, wrong, rtol, atol):
                raise Mismatch(message)
        hint = ""
        if got.ndim == 2 and got.shape == expected.shape[::-1]:
            hint = " It looks transposed."
        elif got.numel() == expected.numel():
            hint = " Same number of entries: check the order of your axes or a reshape."
        raise Mismatch(
            f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}.{hint}"
        )
    if not torch.is_floating_point(got) and torch.is_floating_point(expected):
        got = got.to(expected.dtype)
    if torch.isnan(got).any() and not torch.isnan(expected).any():
        raise Mismatch(f"{what} contains NaN where the reference has none (a division by zero?).")
    if _close(got, expected, rtol, atol):
        return
    for message, wrong in items:
        if _close(got, wrong, rtol, atol):
            raise Mismatch(message)
    if got.ndim >= 2 and _close(got.transpose(-1, -2), expected, rtol, atol):
        raise Mismatch(f"{what} is the transpose of the expected result.")
    diff = (got.detach().to(torch.float64).cpu() - expected.detach().to(torch.float64).cpu()).abs()
    diff = torch.nan_to_num(diff, nan=float("inf"))
    where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    raise Mismatch(
        f"{what} differs from the reference: largest difference {diff.max().item():.3g} at index "
        f"{where} (got {got[where].item():.4g}, expected {expected[where].item():.4g})."
    )
