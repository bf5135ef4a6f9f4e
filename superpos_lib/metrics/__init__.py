"""Metrics, one module per subject (feature geometry, neurons, sparsity, dictionaries); every
public name is re-exported here, e.g. ``superpos_lib.metrics.feature_dimensionality``."""

import importlib
import pkgutil

__all__: list[str] = []

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        _mod = importlib.import_module(f"{__name__}.{_module.name}")
        for _name in getattr(_mod, "__all__", []):
            globals()[_name] = getattr(_mod, _name)
            __all__.append(_name)
