"""virtaudit: find the running libvirt guests that a libvirtd restart or upgrade would break.

The heavy modules (polars, the native core, the rules) are imported on first use, so that
``virtaudit --version`` and ``import virtaudit`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
SCHEMA_VERSION = 2

# public name -> module that defines it
_LAZY = {
    "scan": "virtaudit.pipeline",
    "scan_batches": "virtaudit.pipeline",
    "Scan": "virtaudit.scanning",
    "root_bus": "virtaudit.busnames",
    "buses": "virtaudit.busnames",
    "audit": "virtaudit.pipeline",
    "rules": "virtaudit.catalog",
    "summary": "virtaudit.reports",
    "view": "virtaudit.reports.notebook",
}

__all__ = ["SCHEMA_VERSION", "__version__", *sorted(_LAZY)]

if TYPE_CHECKING:  # the names exist at run time through __getattr__ below
    from virtaudit.busnames import buses as buses
    from virtaudit.busnames import root_bus as root_bus
    from virtaudit.catalog import rules as rules
    from virtaudit.pipeline import audit as audit
    from virtaudit.pipeline import scan as scan
    from virtaudit.pipeline import scan_batches as scan_batches
    from virtaudit.reports import summary as summary
    from virtaudit.reports.notebook import view as view
    from virtaudit.scanning import Scan as Scan


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'virtaudit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
