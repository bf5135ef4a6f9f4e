"""Gather a package's topic modules: import each public submodule and re-export its ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil


def reexport_submodules(package_name: str, package_path, namespace: dict) -> list[str]:
    """Import every submodule of ``package_name`` not starting with ``_``; copy the names each lists in
    ``__all__`` into ``namespace`` (the package's ``globals()``). Returns the names, in import order."""
    names: list[str] = []
    for module_info in pkgutil.iter_modules(package_path):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package_name}.{module_info.name}")
        for name in getattr(module, "__all__", []):
            namespace[name] = getattr(module, name)
            names.append(name)
    return names
