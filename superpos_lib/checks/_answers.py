"""Checkers for exercises whose answer is a number or a label rather than a function.

- **predict, then run**: the student writes a number before the experiment runs; the checker compares
  it with the value the experiment computed, at the tolerance the exercise states, and explains the gap.
- **interpret**: the student names what a figure shows (a regime, a geometry) from a list of choices;
  the checker compares the name with the label the library computes.

Register each such exercise once, in its topic module::

    register_answer("pentagon_dimensionality", tolerance=0.02,
                    explanation="five features share two dimensions equally: D = 2/5 each")
    register_answer("regime", choices=["dedicated", "superposition", "not learned"])

and check it in the chapter, after the experiment, with ``check_answer("regime", my_answer, label)``.
In a ``solution`` cell an answer is a plain assignment (``my_answer = 0.4``); the student notebook turns
it into ``my_answer = ...`` for the student to fill in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ._core import _REGISTRY, CheckResult, _log

_ANSWERS: dict[str, "AnswerSpec"] = {}


@dataclass(frozen=True)
class AnswerSpec:
    """How one answer exercise is graded: a number within ``tolerance`` (absolute, or relative when
    ``relative``), or one of ``choices``; ``explanation`` is shown with a wrong answer."""

    tolerance: float | None
    relative: bool
    choices: tuple[str, ...] | None
    explanation: str


def register_answer(name: str, *, tolerance: float | None = None, relative: bool = False,
                    choices: Sequence[str] | None = None, explanation: str = "") -> None:
    """File a number exercise (give ``tolerance``) or a choice exercise (give ``choices``) under ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    if name in _ANSWERS or name in _REGISTRY:
        raise ValueError(f"exercise name {name!r} is registered twice")
    if (tolerance is None) == (choices is None):
        raise ValueError("give exactly one of tolerance (a number exercise) and choices (a choice exercise)")
    if tolerance is not None and not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    if choices is not None:
        if isinstance(choices, str) or not choices or not all(isinstance(c, str) and c for c in choices):
            raise ValueError(f"choices must be a list of at least one non-empty str, got {choices!r}")
        choices = tuple(choices)
    if not isinstance(explanation, str):
        raise ValueError(f"explanation must be a str, got {type(explanation).__name__}")
    _ANSWERS[name] = AnswerSpec(None if tolerance is None else float(tolerance), bool(relative), choices, explanation)


def registered_answers() -> list[str]:
    """Names of every answer exercise (predict or interpret), sorted."""
    return sorted(_ANSWERS)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or isinstance(value, str):
        return None
    try:
        number = float(torch.as_tensor(value).reshape(())) if not isinstance(value, (int, float)) else float(value)
    except Exception:
        return None
    return number if math.isfinite(number) else None


def _grade(spec: AnswerSpec, answer: Any, truth: Any) -> tuple[bool, str]:
    if answer is Ellipsis or answer is None:
        return False, "not answered yet: replace the `...` with your answer."
    hint = f" {spec.explanation}" if spec.explanation else ""
    if spec.choices is not None:
        if not isinstance(answer, str):
            return False, f"answer with one of {list(spec.choices)} (a string), not a {type(answer).__name__}."
        normal = {c.lower().strip(): c for c in spec.choices}
        if answer.lower().strip() not in normal:
            return False, f"{answer!r} is not one of the choices {list(spec.choices)}."
        if normal[answer.lower().strip()] == str(truth):
            return True, f"all checks passed: it is {truth!r}."
        return False, f"you answered {normal[answer.lower().strip()]!r}; the library's label is {str(truth)!r}.{hint}"
    value, target = _number(answer), _number(truth)
    if value is None:
        return False, f"answer with a number, not {answer!r}."
    allowed = spec.tolerance * abs(target) if spec.relative else spec.tolerance
    gap = abs(value - target)
    if gap <= allowed:
        return True, f"all checks passed: the experiment gives {target:.3g}."
    side = "high" if value > target else "low"
    return False, (f"you predicted {value:.3g}; the experiment gives {target:.3g}, so your prediction is {gap:.2g} too "
                   f"{side} (allowed: {allowed:.2g}).{hint}")


def check_answer(exercise: str, answer: Any, truth: Any) -> CheckResult:
    """Compare the student's ``answer`` with ``truth`` (the computed value or label) for ``exercise``.

    Returns a :class:`CheckResult`; end a notebook cell with this call to see its message.
    """
    if exercise not in _ANSWERS:
        known = ", ".join(registered_answers()) or "(none)"
        raise ValueError(f"exercise must be one of the answer exercises: {known}; got {exercise!r}")
    spec = _ANSWERS[exercise]
    if spec.choices is None and _number(truth) is None:
        raise ValueError(f"truth must be the computed number for {exercise!r}, got {truth!r}")
    if spec.choices is not None and str(truth) not in spec.choices:
        raise ValueError(f"truth must be one of {list(spec.choices)} for {exercise!r}, got {truth!r}")
    passed, message = _grade(spec, answer, truth)
    result = CheckResult(exercise, passed, message)
    _log(result, None)
    return result
