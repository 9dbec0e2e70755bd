"""Hand-written expectations for tests/fixtures/restart/*.xml: the scan data of restart hazards (issue 18).

``domains``: job_async, job_phase, dbus_daemon, iothreads, tpm_backend; ``devices``: volume_actual_type,
nbdkit (docs/schema.md). Every value below was worked out by hand from the fixture text, and both
implementations, the scanner and the reference extractor, are held to it. The fixtures plant secrets
(``s3cret`` in a D-Bus socket path, nbdkit pid files, a TPM encryption secret) that no column may hold.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import TESTS_DIR, assert_files_seen, scan_tables
from reference_extractor import extract

FIXTURES = TESTS_DIR / "fixtures" / "restart"
STATUS = "restart-status.xml"
DOMAIN = "restart-domain.xml"
ODD = "restart-odd-status.xml"
FILES = [STATUS, DOMAIN, ODD]

DOMAIN_COLUMNS = ("job_async", "job_phase", "dbus_daemon", "iothreads", "tpm_backend")
DEVICE_COLUMNS = ("element", "type", "volume_actual_type", "nbdkit")


@pytest.fixture(scope="module", params=["scanner", "reference"])
def tables(request: pytest.FixtureRequest) -> dict[str, pl.DataFrame]:
    paths = sorted(str(FIXTURES / name) for name in FILES)
    if request.param == "reference":
        out = extract([Path(p) for p in paths])
    else:
        scan: Callable[..., Any] = request.getfixturevalue("scan")
        out = scan_tables(scan(*paths))
    assert_files_seen(out, len(paths))
    assert out["errors"].is_empty(), out["errors"].to_dicts()
    return out


def by_file(df: pl.DataFrame, name: str) -> pl.DataFrame:
    return df.filter(pl.col("path") == str(FIXTURES / name))


EXPECTED_DOMAINS = {
    # the first <job> counts; the D-Bus helper's presence only; the first <iothreads>; the first
    # backend of a <tpm> (emulator), not the second TPM's (passthrough)
    STATUS: ("migration out", "postcopy_failed", True, 4, "emulator"),
    # plain domain XML: no job, no private data (dbus_daemon null); iothreads ' +03' is 3; the first
    # <tpm> has no backend, so the first backend is the second TPM's, in the second <devices>
    DOMAIN: (None, None, None, 3, "emulator"),
    # a <job> without async or phase; no <dbusDaemon> in a status file is false; iothreads '0x10' is not a
    # decimal count: null
    ODD: (None, None, False, None, "passthrough"),
}

EXPECTED_DEVICES = {
    STATUS: [
        ("disk", "volume", "file", False),  # source/@actualType of a volume disk
        # no actualType on its own source (the backing store's is not the disk's); nbdkit under
        # source/privateData
        ("disk", "volume", None, True),
        # not a volume: actualType not read; nbdkit under source/privateData (the one directly under the
        # disk's privateData does not count)
        ("disk", "network", None, True),
        ("disk", "file", None, False),  # actualType attributes, but not a volume; nbdkit not under <source>
        ("interface", "network", None, None),  # not a disk: nulls
        ("tpm", None, None, None),
        ("tpm", None, None, None),
    ],
    DOMAIN: [
        ("tpm", None, None, None),
        ("tpm", None, None, None),
        ("disk", "volume", None, False),
    ],
    ODD: [("tpm", None, None, None)],
}


@pytest.mark.parametrize("name", FILES)
def test_domain_columns(tables: dict[str, pl.DataFrame], name: str) -> None:
    rows = by_file(tables["domains"], name).select(DOMAIN_COLUMNS).rows()
    assert rows == [EXPECTED_DOMAINS[name]]


@pytest.mark.parametrize("name", FILES)
def test_device_columns(tables: dict[str, pl.DataFrame], name: str) -> None:
    rows = by_file(tables["devices"], name).sort("ordinal").select(DEVICE_COLUMNS).rows()
    assert rows == EXPECTED_DEVICES[name]


def test_dtypes(tables: dict[str, pl.DataFrame]) -> None:
    domains, devices = tables["domains"].schema, tables["devices"].schema
    assert [domains[c] for c in DOMAIN_COLUMNS] == [pl.String, pl.String, pl.Boolean, pl.UInt32, pl.String]
    assert devices["volume_actual_type"] == pl.String and devices["nbdkit"] == pl.Boolean


def test_no_secret_or_path_in_any_table(tables: dict[str, pl.DataFrame]) -> None:
    for name, df in tables.items():
        for column in df.columns:
            if df.schema[column] != pl.String or column == "path":
                continue
            values = [v for v in df[column].to_list() if v is not None]
            assert not [v for v in values if "s3cret" in v], f"{name}.{column}"
            assert not [v for v in values if "/run/libvirt/qemu/" in v], f"{name}.{column}"


def test_fixtures_plant_what_the_tests_say() -> None:
    # The secrets and the decoys are in the files (a test of their absence must be able to fail).
    text = (FIXTURES / STATUS).read_text()
    assert text.count("s3cret") == 4
    assert "<dbusDaemon" in text and "async='decoy" in text and "actualType='block'" in text
