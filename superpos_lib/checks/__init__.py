"""Exercise checkers. ``check(name, fn)`` compares a student's function with the reference on
random inputs and says in plain words what is wrong.

Checkers live in one module per chapter topic in this package; each registers itself with
``@register("exercise_name")``. Every module here is imported so all checkers are registered.
"""

import importlib
import pkgutil

from ._core import CheckResult, Mismatch, call_student, check, compare, register, registered_exercises

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["CheckResult", "Mismatch", "call_student", "check", "compare", "register", "registered_exercises"]
