"""Metrics, one module per subject (feature geometry, neurons, sparsity, dictionaries); every
public name is re-exported here, e.g. ``superpos_lib.metrics.feature_dimensionality``."""

from .._reexport import reexport_submodules

__all__ = reexport_submodules(__name__, __path__, globals())
