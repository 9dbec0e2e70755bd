"""The capability flag tables: the shipped data is what tools/derive_caps_flags.py derives from the CSV of
libvirt's tables, and the verdicts interpolate only as that CSV's README allows."""

from __future__ import annotations

import csv
import importlib.util
import os
from pathlib import Path

import pytest
from virtaudit.capsflags import known, table_at
from virtaudit.capsflags_data import COVERED, SPANS
from virtaudit.versions import libvirt_key

ROOT = Path(__file__).resolve().parent.parent
CSV = Path(os.environ.get("VIRTAUDIT_SHARED", ROOT.parent / "shared")) / "data" / "qemucaps-flags.csv"


def _tables() -> dict[str, set[str]]:
    tables: dict[str, set[str]] = {}
    with CSV.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            tables.setdefault(row["libvirt_version"], set()).add(row["flag"])
    return tables


@pytest.fixture(scope="module")
def tables() -> dict[str, set[str]]:
    if not CSV.is_file():
        pytest.skip(f"{CSV} not found (the shipped data is tested against it where it is)")
    return _tables()


def test_shipped_data_is_derived_from_the_csv(tables: dict[str, set[str]]) -> None:
    spec = importlib.util.spec_from_file_location("derive", ROOT / "tools" / "derive_caps_flags.py")
    assert spec is not None and spec.loader is not None
    derive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(derive)
    shipped = (ROOT / "python" / "virtaudit" / "capsflags_data.py").read_text(encoding="utf-8")
    assert derive.main(str(CSV)) == shipped, "run tools/derive_caps_flags.py again"


def test_every_covered_table_is_exact(tables: dict[str, set[str]]) -> None:
    # Every (release read, flag) verdict is the table itself, including names in no table.
    assert set(COVERED) == set(tables)
    every = set(SPANS) | {"no-such-flag"}
    for release, names in tables.items():
        key = libvirt_key(release)
        assert {flag for flag in every if known(flag, key) == "yes"} == names, release


@pytest.mark.parametrize(
    ("flag", "release", "expected"),
    [
        ("virtio-crypto", "9.0.0", "no"),  # added in 9.6.0's table (seen: lost on a downgrade to 9.0.0)
        ("virtio-crypto", "9.6.0", "yes"),
        ("virtio-crypto", "9.2.0", "maybe"),  # 9.2.0 not read: between 9.0.0 (lacks) and 9.6.0 (has)
        ("blockdev", "9.2.0", "yes"),  # in 9.0.0's table, so in every later one (prefix from 5.3.0)
        ("no-such-flag", "9.2.0", "no"),  # in 9.6.0's table neither
        ("virtio-crypto", "12.0.0", "unknown"),  # nothing is known after 11.3.0
        ("kqemu", "5.2.0", "yes"),
        ("kqemu", "5.3.0", "no"),  # deleted in 5.3.0
        ("kqemu", "12.0.0", "no"),  # and never re-added
        ("blockdev", "4.10.1", "unknown"),  # maintenance release before 5.3.0: no interpolation allowed
        ("blockdev", "2.0.0", "unknown"),  # below the releases read
    ],
)
def test_known(flag: str, release: str, expected: str) -> None:
    assert known(flag, libvirt_key(release)) == expected


def test_table_at_describes_what_it_rests_on() -> None:
    assert table_at(libvirt_key("9.0.0")).describe() == "the table of 9.0.0"
    assert table_at(libvirt_key("9.2.0")).describe() == "a table between those of 9.0.0 and 9.6.0"
    assert table_at(libvirt_key("12.0.0")).describe() == "a table that was not read"
