"""The machinery every exercise checker shares: a registry, a result type and comparisons
that turn a wrong answer into a sentence a student can act on.

What a checker accepts (one policy for every exercise): the values count, not the container. A
torch tensor of any floating dtype (float32, float64, ...), a NumPy array, or a nested list of
numbers passes when its values match the reference (compared in float64); indices must be
integers, and a yes/no answer must be booleans. A function that modifies its inputs in place still
passes, with a note that it did.
"""

from __future__ import annotations

import json
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

GRADE_LOG_ENV = "SUPERPOS_GRADE_LOG"  # set by the grader: every check() appends its verdict here

_REGISTRY: dict[str, Callable[[Any], "CheckResult"]] = {}
_REFERENCES: dict[str, Callable] = {}
_MUTATION_NOTES: list[str] = []  # filled by call_student while one checker runs

_LIBRARY_DIR = str(Path(__file__).resolve().parents[1])


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


def register(name: str, *, reference: Callable | None = None):
    """Decorator that files a checker under ``name`` and wraps it so it always returns a
    :class:`CheckResult` (never a traceback) for whatever the student passes in.

    ``reference`` is the course's implementation with the exercise's signature: the function a
    student notebook falls back on (see :func:`check_or_reference`) while the student's own one
    does not pass yet.
    """

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
            if reference is not None and fn is reference:
                return CheckResult(
                    name,
                    False,
                    "this is the reference implementation the notebook switched to because your function "
                    "had not passed: re-run the cell with your function, then this check.",
                )
            library = _library_name(fn)
            if library is not None:
                return CheckResult(
                    name,
                    False,
                    f"this is the library's {library}, not your own function: write yours in the exercise "
                    "cell and pass it here (the library's version is there to compare with afterwards).",
                )
            _MUTATION_NOTES.clear()
            try:
                checker(fn)
            except Mismatch as problem:
                return CheckResult(name, False, str(problem))
            finally:
                notes = sorted(set(_MUTATION_NOTES))
                _MUTATION_NOTES.clear()
            message = "all checks passed."
            if notes:
                message += (f" Note: your function changed its input {', '.join(notes)} in place; "
                            "work on a copy (or out-of-place operations) so the caller's data stays intact.")
            return CheckResult(name, True, message)

        run.__name__ = checker.__name__
        run.__doc__ = checker.__doc__
        _REGISTRY[name] = run
        if reference is not None:
            _REFERENCES[name] = reference
        return run

    return wrap


def registered_exercises() -> list[str]:
    """Names of every exercise that has a checker, sorted."""
    return sorted(_REGISTRY)


def reference_implementation(exercise: str) -> Callable | None:
    """The course's implementation of ``exercise`` (same signature as the exercise), or ``None``."""
    _known(exercise)
    return _REFERENCES.get(exercise)


def _known(exercise: str) -> None:
    if exercise not in _REGISTRY:
        known = ", ".join(registered_exercises()) or "(none)"
        raise ValueError(f"exercise must be one of: {known}; got {exercise!r}")


def _log(result: CheckResult, fn: Any) -> None:
    path = os.environ.get(GRADE_LOG_ENV)
    if not path:
        return
    record = {"exercise": result.exercise, "passed": result.passed, "message": result.message,
              "module": getattr(fn, "__module__", None), "function": getattr(fn, "__qualname__", None)}
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
    except OSError:
        pass  # grading bookkeeping must never break a student's notebook


def _library_name(fn: Any) -> str | None:
    """``"superpos_lib.metrics.gini"`` if ``fn`` is one of the library's own functions (or a bound
    method of one of its classes), else ``None``. Functions a notebook defines live in ``__main__``."""
    target = getattr(fn, "__func__", fn)
    module = getattr(target, "__module__", None) or ""
    if module == "superpos_lib" or module.startswith("superpos_lib."):
        return f"{module}.{getattr(target, '__qualname__', getattr(target, '__name__', '?'))}"
    return None


def check(exercise: str, fn: Any) -> CheckResult:
    """Check a student's implementation of ``exercise`` against the reference.

    Returns a :class:`CheckResult`; end a notebook cell with this call to see its message.
    """
    _known(exercise)
    result = _REGISTRY[exercise](fn)
    _log(result, fn)
    return result


def check_or_reference(exercise: str, fn: Any) -> Callable:
    """Check ``fn`` and return the function the rest of the notebook should use.

    Prints the checker's one-line verdict. If ``fn`` passes, returns ``fn`` itself; otherwise
    prints one more line and returns the course's reference implementation, so the later cells
    that use this function still run. Student notebooks call it as
    ``my_function = check_or_reference("exercise_name", my_function)``.
    """
    result = check(exercise, fn)
    print(repr(result))
    if result.passed:
        return fn
    reference = _REFERENCES.get(exercise)
    name = getattr(fn, "__name__", exercise)
    if reference is None:
        print(f"(No reference implementation for {exercise!r}: later cells use your {name} as it is.)")
        return fn
    print(f"Until yours passes, the cells below use the course's reference {name}.")
    return reference


def _student_frame(frames: traceback.StackSummary) -> traceback.FrameSummary:
    """The deepest frame in the student's own code (not in this library, torch or other packages)."""
    for frame in reversed(frames[1:]):  # frames[0] is call_student itself
        filename = frame.filename or ""
        if filename.startswith(_LIBRARY_DIR) or "site-packages" in filename or "dist-packages" in filename:
            continue
        if os.sep + "lib" + os.sep + "python" in filename:  # the standard library
            continue
        return frame
    return frames[-1]


def _snapshot(args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    items = [(f"argument {i + 1}", a) for i, a in enumerate(args)] + list(kwargs.items())
    return [(name, value, value.detach().clone()) for name, value in items if isinstance(value, torch.Tensor)]


def _no_nan(t: torch.Tensor) -> torch.Tensor:
    return torch.nan_to_num(t, nan=0.0) if t.is_floating_point() else t


def call_student(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call the student's function; turn any exception into a one-line :class:`Mismatch`.

    Tensor arguments that the function modifies in place are noted (not failed): see ``register``.
    """
    before = _snapshot(args, kwargs)
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise Mismatch(
            "not implemented yet: replace the `raise NotImplementedError` line with your code."
        ) from None
    except Mismatch:
        raise
    except Exception as error:  # the student's bug, reported in one line with where it happened
        frames = traceback.extract_tb(error.__traceback__)
        if isinstance(error, TypeError) and len(frames) == 1:  # the call itself failed: wrong signature
            raise Mismatch(
                f"your function could not be called the way the exercise specifies ({error}); "
                "keep the signature given in the exercise."
            ) from None
        frame = _student_frame(frames)
        raise Mismatch(
            f"your function raised {type(error).__name__}: {error} "
            f"(line {frame.lineno}: `{(frame.line or '').strip()}`)"
        ) from None
    for name, value, copy in before:
        if value.shape != copy.shape or not torch.equal(_no_nan(value.detach()), _no_nan(copy)):
            _MUTATION_NOTES.append(name)
    return result


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except Exception:
        raise Mismatch(f"{what} should be a tensor, got a {type(value).__name__}.") from None


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float, atol: float) -> bool:
    return a.shape == b.shape and torch.allclose(
        a.detach().to(torch.float64).cpu(), b.detach().to(torch.float64).cpu(), rtol=rtol, atol=atol,
        equal_nan=True,
    )


def _shape_hint(got: torch.Tensor, expected: torch.Tensor) -> str:
    squeezed = tuple(s for s in got.shape if s != 1)
    if expected.ndim == 0 and got.numel() == 1:
        return " Return a single number (a 0-d tensor, e.g. with .squeeze() or without keepdim=True)."
    if got.ndim > expected.ndim and squeezed == tuple(s for s in expected.shape if s != 1):
        return " It has extra axes of length 1: drop them (did you use keepdim=True?)."
    if got.ndim == 2 and got.shape == expected.shape[::-1]:
        return " It looks transposed."
    if got.numel() == expected.numel():
        return " Same number of entries: check the order of your axes or a reshape."
    return ""


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
    wrong implementation gives; the first one that ``got`` matches is reported. They are tried
    before the generic messages (shape, NaN, largest difference).
    """
    got = _as_tensor(got, what)
    items = list(diagnoses.items() if isinstance(diagnoses, Mapping) else diagnoses)
    if got.shape != expected.shape:
        for message, wrong in items:
            if _close(got, wrong, rtol, atol):
                raise Mismatch(message)
        raise Mismatch(
            f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}.{_shape_hint(got, expected)}"
        )
    if got.dtype == torch.bool and expected.dtype != torch.bool:
        got = got.to(expected.dtype)
    if not (torch.is_floating_point(got) or torch.is_complex(got)) and torch.is_floating_point(expected):
        got = got.to(expected.dtype)
    if _close(got, expected, rtol, atol):
        return
    for message, wrong in items:
        if _close(got, wrong, rtol, atol):
            raise Mismatch(message)
    if got.ndim >= 2 and _close(got.transpose(-1, -2), expected, rtol, atol):
        raise Mismatch(f"{what} is the transpose of the expected result.")
    got64 = got.detach().to(torch.float64).cpu()
    exp64 = expected.detach().to(torch.float64).cpu()
    nan = torch.isnan(got64) & ~torch.isnan(exp64)
    if nan.any():
        where = tuple(int(i) for i in nan.nonzero()[0])
        raise Mismatch(f"{what} is NaN at index {where}, where the reference is {exp64[where].item():.4g}.")
    diff = (got64 - exp64).abs()
    diff = torch.nan_to_num(diff, nan=float("inf"))
    where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    raise Mismatch(
        f"{what} differs from the reference: largest difference {diff.max().item():.3g} at index "
        f"{where} (got {got64[where].item():.4g}, expected {exp64[where].item():.4g})."
    )
