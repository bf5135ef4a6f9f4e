"""Exercise checkers. ``check(name, fn)`` compares a student's function with the reference on
random inputs and says in plain words what is wrong.

Checkers live in one module per chapter topic in this package; each registers itself with
``@register("exercise_name")``. Every module here is imported so all checkers are registered.
"""

from .._reexport import reexport_submodules
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

__all__ = ["CheckResult", "Mismatch", "call_student", "check", "check_or_reference", "compare",
           "reference_implementation", "register", "registered_exercises"]
