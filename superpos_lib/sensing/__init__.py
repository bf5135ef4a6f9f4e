"""Compressed sensing: batched sparse recovery and the Donoho–Tanner phase transition.

The sensing problem: an unknown ``k``-sparse signal ``x`` in ``R^n`` is observed through
``m < n`` linear measurements ``y = A x``. Every function here is batched: a sensing matrix
``A`` is ``(m, n)`` (shared by every problem) or ``(batch, m, n)`` (one per problem), signals
are ``(batch, n)`` and measurements ``(batch, m)``. One tensor program solves all problems at
once; the only Python loops run over iterations of an algorithm.

Methods of :func:`recover`:

- ``"l1"``: basis pursuit, ``min ||x||_1 subject to A x = y``, solved by ADMM followed by a
  least-squares refit on the detected support; a problem stops as soon as its refit is
  *certified* optimal by a dual vector ``w`` with ``A_S^T w = sign(x_S)`` and
  ``||A^T w||_inf <= 1`` (the KKT conditions of the linear program). Where a linear-programming
  solver finds the sparse solution, the result matches it to rounding error.
- ``"lasso"``: ``min 0.5 ||A x - y||^2 + lam ||x||_1`` by FISTA, for noisy measurements.
- ``"omp"``: orthogonal matching pursuit, ``k`` greedy steps with an incremental QR
  factorisation (Gram–Schmidt) of the chosen columns.
- ``"iht"``: normalised iterative hard thresholding, keeping ``k`` entries, with a final
  least-squares refit on the kept support.

Modules: ``problems`` (generators, success criteria), ``basis_pursuit``, ``lasso``, ``omp``, ``iht``
(one solver each), ``solve`` (:func:`recover`, the entry point), ``experiments`` (phase transitions) and ``theory``
(the Donoho–Tanner curves).
"""

from .._reexport import reexport_submodules
from ._groups import _from_groups, _to_groups  # noqa: F401

__all__ = reexport_submodules(__name__, __path__, globals())
