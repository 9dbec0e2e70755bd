"""Helpers of the hostile-input, read-only, secrets and load tests (issue 6).

Every scan these tests run goes through :func:`scan_checked`, which runs it under a timeout (a hang fails
the test instead of stalling the suite) and asserts the schema invariant files seen = documents parsed
+ error rows.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import (
    REPO_ROOT,
    TESTS_DIR,
    assert_files_seen,
    format_errors,
    project_fixture_files,
    scan_tables,
)

SCAN_TIMEOUT = 120.0

GOOD_STATUS = """<domstatus state='running' reason='booted' pid='4242'>
  <qemuCaps><flag name='kvm'/><flag name='device'/></qemuCaps>
  <devices><device alias='virtio-disk0'/><device alias='net0'/></devices>
  <domain type='kvm' id='7'>
    <name>good-guest</name>
    <uuid>5a1b3c0e-4f6d-4c8b-9a2e-0d1c2b3a4f5e</uuid>
    <os><type arch='x86_64' machine='pc-q35-8.2'>hvm</type></os>
    <devices>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <disk type='file' device='disk'>
        <source file='/var/lib/libvirt/images/good.qcow2'/>
        <alias name='virtio-disk0'/>
        <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
      </disk>
      <controller type='pci' index='0' model='pcie-root'><alias name='pcie.0'/></controller>
      <interface type='network'><model type='virtio'/><alias name='net0'/></interface>
    </devices>
  </domain>
</domstatus>
"""

SECRETS_DIR = TESTS_DIR / "fixtures" / "secrets"


def secret_values() -> list[str]:
    """Every planted secret: our fixtures' list, plus the example fleet's when it has one."""
    values: list[str] = []
    for listing in (SECRETS_DIR / "secrets.txt", REPO_ROOT / "examples" / "fleet" / "secrets.txt"):
        if listing.is_file():
            values += [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    return sorted(set(values))


def run_with_timeout(
    fn: Callable[[], Any],
    timeout: float = SCAN_TIMEOUT,
    what: str = "scan",
    unblock: Callable[[], None] | None = None,
) -> Any:
    """``fn()`` on a daemon thread; fails the test when it has not returned after ``timeout`` seconds.

    ``unblock`` is called on a timeout (say, to open a FIFO's other end) so the stuck thread can end.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name=f"virtaudit-test-{what}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        if unblock is not None:
            unblock()
        pytest.fail(f"{what} did not finish within {timeout:.0f}s: it hangs", pytrace=False)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def scan_checked(
    *paths: str | os.PathLike[str],
    files: int,
    timeout: float = SCAN_TIMEOUT,
    unblock: Callable[[], None] | None = None,
    **options: Any,
) -> Any:
    """``virtaudit.scan`` under a timeout; asserts files seen (``files``) = domains + errors."""
    import virtaudit

    result = run_with_timeout(lambda: virtaudit.scan(*paths, **options), timeout, "scan", unblock)
    assert_files_seen(scan_tables(result), files)
    return result


def kinds_by_path(result: Any) -> dict[str, str]:
    """path -> error kind, or "parsed" for the documents."""
    out = dict.fromkeys(result.domains["path"].to_list(), "parsed")
    for path, kind in result.errors.select("path", "kind").iter_rows():
        assert path not in out, f"{path} reported twice"
        out[path] = kind
    return out


def error_of(result: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    rows = result.errors.filter(pl.col("path") == os.fspath(path)).to_dicts()
    assert len(rows) == 1, (
        f"expected one error row for {path}, got {len(rows)}; errors:\n{format_errors(result.errors)}"
    )
    row: dict[str, Any] = rows[0]
    assert row["message"], f"{path}: empty message"
    assert len(row["message"]) < 512, f"{path}: message of {len(row['message'])} characters"
    return row


def assert_parsed(result: Any, paths: Iterable[str | os.PathLike[str]]) -> None:
    parsed = set(result.domains["path"].to_list())
    missing = [os.fspath(p) for p in paths if os.fspath(p) not in parsed]
    assert not missing, (
        f"good files not reported as parsed: {missing}\nerrors:\n{format_errors(result.errors)}"
    )


def good_files(directory: Path, count: int = 6) -> list[Path]:
    """Good inputs for a mixed scan: the built-in status plus real fixtures that parse (copied)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = [directory / "good-guest.xml"]
    out[0].write_text(GOOD_STATUS)
    for i, src in enumerate(p for p in project_fixture_files() if "secrets" not in p.parts):
        if len(out) >= count:
            break
        dst = directory / f"fixture-{i}-{src.name}"
        shutil.copyfile(src, dst)
        out.append(dst)
    return out


def real_status_file() -> bytes:
    """A real status file to damage: the largest fixture (the built-in one until fixtures exist)."""
    candidates = [p for p in project_fixture_files() if "secrets" not in p.parts]
    status = [p for p in candidates if b"<domstatus" in p.read_bytes()[:4096]]
    if status:
        return max(status, key=lambda p: p.stat().st_size).read_bytes()
    return GOOD_STATUS.encode()


def garbage(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def make_tree_read_only(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        Path(dirpath).chmod(Path(dirpath).stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        del dirnames  # walk continues into them


def make_tree_writable(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        Path(dirpath).chmod(0o755)
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink() and p.is_file():
                p.chmod(0o644)


def every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


def file_states(paths: Sequence[Path]) -> dict[str, tuple[bytes | None, int, int]]:
    """Bytes, mtime and size of each file: to prove that a scan changed nothing."""
    out: dict[str, tuple[bytes | None, int, int]] = {}
    for p in paths:
        st = p.stat()
        out[str(p)] = (p.read_bytes() if p.is_file() else None, st.st_mtime_ns, st.st_size)
    return out


def atimes(paths: Sequence[Path]) -> dict[str, int]:
    return {str(p): p.stat().st_atime_ns for p in paths}
