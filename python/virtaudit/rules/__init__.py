"""The rules, one module per family (:mod:`~virtaudit.rules.pci`, :mod:`~virtaudit.rules.als`,
:mod:`~virtaudit.rules.rst`, :mod:`~virtaudit.rules.caps`). Each rule is one unit: its catalog entry on the
:func:`virtaudit.rules._base.rule` decorator, the query below it. The shared parts (the batch's
:class:`~virtaudit.rules._base.Context`, message helpers, :func:`~virtaudit.rules._base.run`) are in
:mod:`virtaudit.rules._base`.

Importing this package imports neither polars nor the rule modules. ``virtaudit.rules`` is also the public
function that returns the catalog as a DataFrame (:func:`virtaudit.catalog.rules`): once this package is
imported it is the package's attribute of ``virtaudit``, so the package can be called like that function.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


class _CallableRules(types.ModuleType):
    """``virtaudit.rules()`` keeps meaning :func:`virtaudit.catalog.rules` after the package is imported."""

    def __call__(self) -> pl.DataFrame:
        from virtaudit.catalog import rules

        return rules()


sys.modules[__name__].__class__ = _CallableRules
