"""Helper library for *Superposition: a hands-on course*.

Modules are named for what they hold: ``data`` (synthetic sparse features), ``toy_models``
(batched toy models of superposition and their training kernel), ``metrics``, ``sensing``
(batched sparse recovery), ``rip``, ``sae`` (sparse autoencoders), ``plots``, ``widgets``,
``checks`` (exercise checkers) and ``exercises`` (the student-notebook builder).
"""

__version__ = "0.1.0"
