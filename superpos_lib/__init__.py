"""Helper library for *Superposition: a hands-on course*.

Modules are named for what they hold: ``data`` (synthetic sparse features), ``toy_models``
(batched toy models of superposition and their training kernel), ``computation`` (the ``|x|``
model of computation in superposition), ``metrics``, ``sensing`` (batched sparse recovery), ``rip``,
``sae`` (sparse autoencoders), ``real_models`` (MiniLM and a text corpus, offline), ``plots``,
``widgets``, ``checks`` (exercise checkers), ``exercises`` (the student-notebook builder),
``device`` and ``notebook`` (the chapters' setup cell).
"""

__version__ = "0.1.0"

__all__: list[str] = []  # the package itself defines nothing to call: see its modules
