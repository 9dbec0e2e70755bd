"""The lab's tests: offline ones (the recording) run everywhere; live ones (marker `lab`) with `make lab`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab: needs the live libvirt lab (make lab: root, Debian, libvirt, QEMU)"
    )
