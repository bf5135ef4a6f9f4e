"""Exercise checkers. ``check(name, fn)`` compares a student's function with the reference on
random inputs and says in plain words what is wrong.

Checkers live in one module per chapter topic in this package; each registers itself with
``@register("exercise_name", reference=...)``; exercises answered with a number or a label
(predict, interpret) with ``register_answer`` and are checked with ``check_answer``. Every module here is imported so all checkers are registered.
"""

from .._reexport import reexport_submodules
from ._answers import check_answer, register_answer, registered_answers
from ._core import (
    CheckResult,
    Mismatch,
    call_student,
    check,
    check_or_reference,
    compare,
    reference_implementation,
    register,
    registered_exercises,
)

reexport_submodules(__name__, __path__, globals())  # importing a checker module registers its checkers

__all__ = ["CheckResult", "Mismatch", "call_student", "check", "check_answer", "check_or_reference", "compare",
           "reference_implementation", "register", "register_answer", "registered_answers", "registered_exercises"]
