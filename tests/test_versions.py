"""The package's version and schema version have one source each: the native core.

``virtaudit/__init__.py`` spells both out, so that ``import virtaudit`` and ``virtaudit --version`` do not
load the native module; these tests hold them to what the core was built with: Cargo's package version
(``CARGO_PKG_VERSION``) and the core's schema version.
"""

from __future__ import annotations

import importlib.metadata
from types import ModuleType

import pytest
import virtaudit


@pytest.fixture(scope="module")
def core() -> ModuleType:
    return pytest.importorskip("virtaudit._core")


def test_version_is_the_crate_version(core: ModuleType) -> None:
    assert virtaudit.__version__ == core.__version__


def test_installed_distribution_has_the_same_version(core: ModuleType) -> None:
    # maturin takes the distribution's version from Cargo.toml (pyproject.toml: dynamic = ["version"]).
    assert importlib.metadata.version("virtaudit") == core.__version__


def test_schema_version_is_the_core_schema_version(core: ModuleType) -> None:
    assert virtaudit.SCHEMA_VERSION == core.SCHEMA_VERSION


def test_importing_virtaudit_does_not_load_the_core() -> None:
    import subprocess
    import sys

    code = "import sys, virtaudit; virtaudit.__version__; print('virtaudit._core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
