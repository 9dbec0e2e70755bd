"""Hostile and broken input through ``virtaudit.scan`` (issue 6).

Each bad input becomes exactly one error row with a clear kind and message, while every good file of the
same scan is still reported. Every scan runs under a timeout (a hang fails) and checks files seen =
documents parsed + error rows. The Rust side has the same cases, and more, in
rust/virtaudit-core/tests/hostile.rs.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import load_scan
from hostile_support import (
    GOOD_STATUS,
    assert_parsed,
    error_of,
    garbage,
    good_files,
    kinds_by_path,
    real_status_file,
    run_with_timeout,
    scan_checked,
)

pytestmark = pytest.mark.usefixtures("scan")


@pytest.fixture
def mixed(tmp_path: Path) -> Iterator[tuple[Path, list[Path], Path]]:
    """(root, good files, directory for the bad ones): a scan of root must report all of them."""
    good = good_files(tmp_path / "good")
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    yield tmp_path, good, bad_dir


def one_bad(root: Path, good: list[Path], bad: Path, kind: str | set[str], **options: Any) -> dict[str, Any]:
    """Scans ``root`` (good files plus ``bad``): one error row for ``bad`` of ``kind``, the rest parsed."""
    result = scan_checked(root, files=len(good) + 1, **options)
    assert_parsed(result, good)
    row = error_of(result, bad)
    kinds = {kind} if isinstance(kind, str) else kind
    assert row["kind"] in kinds, f"{bad.name}: {row['kind']}: {row['message']}"
    return row


# --------------------------------------------------------------------------------------------------
# content


def test_empty(mixed: tuple[Path, list[Path], Path]) -> None:
    root, good, bad = mixed
    (bad / "empty.xml").write_bytes(b"")
    row = one_bad(root, good, bad / "empty.xml", "empty")
    assert "empty" in row["message"]


def test_whitespace_only(mixed: tuple[Path, list[Path], Path]) -> None:
    root, good, bad = mixed
    (bad / "blank.xml").write_bytes(b"\n \t\r\n")
    one_bad(root, good, bad / "blank.xml", "empty")


def test_truncated_at_many_offsets(mixed: tuple[Path, list[Path], Path]) -> None:
    """A real status file cut at 300 offsets (and in its last 64 bytes at every one): never a guest."""
    root, good, bad = mixed
    data = real_status_file()
    end = len(data.rstrip())
    offsets = sorted({*range(1, end, max(1, end // 300)), *range(max(1, end - 64), end)})
    for cut in offsets:
        (bad / f"cut-{cut:06d}.xml").write_bytes(data[:cut])
    result = scan_checked(root, files=len(good) + len(offsets))
    assert_parsed(result, good)
    kinds = kinds_by_path(result)
    wrong = {}
    for cut in offsets:
        path = str(bad / f"cut-{cut:06d}.xml")
        blank = not data[:cut].strip()
        allowed = {"empty"} if blank else {"malformed_xml", "not_utf8"}
        if kinds[path] not in allowed:
            wrong[cut] = kinds[path]
    assert not wrong, f"truncated files not reported as such (offset: outcome): {wrong}"
    malformed = result.errors.filter(pl.col("kind") == "malformed_xml")
    assert malformed["line"].null_count() == 0, "a truncated file's error has no line number"


def test_invalid_utf8(mixed: tuple[Path, list[Path], Path]) -> None:
    root, good, bad = mixed
    data = GOOD_STATUS.encode().replace(b"good-guest", b"g\xe9\xff-guest")
    (bad / "latin1.xml").write_bytes(data)
    row = one_bad(root, good, bad / "latin1.xml", "not_utf8")
    assert row["line"] == 5, row


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("utf16le", b"\xff\xfe" + GOOD_STATUS.encode("utf-16-le")),
        ("utf16be", b"\xfe\xff" + GOOD_STATUS.encode("utf-16-be")),
        ("utf32le", b"\xff\xfe\x00\x00" + GOOD_STATUS.encode("utf-32-le")),
        (
            "utf16-decl",
            "<?xml version='1.0' encoding='UTF-16'?>\n".encode("utf-16") + GOOD_STATUS.encode("utf-16"),
        ),
    ],
)
def test_utf16_and_utf32_with_a_bom(mixed: tuple[Path, list[Path], Path], name: str, encoded: bytes) -> None:
    root, good, bad = mixed
    (bad / f"{name}.xml").write_bytes(encoded)
    row = one_bad(root, good, bad / f"{name}.xml", "not_utf8")
    assert "UTF-16" in row["message"] or "UTF-32" in row["message"], row


@pytest.mark.parametrize("where", ["start", "name", "attribute", "end"])
def test_nul_bytes(mixed: tuple[Path, list[Path], Path], where: str) -> None:
    root, good, bad = mixed
    data = GOOD_STATUS.encode()
    at = {
        "start": 0,
        "name": data.index(b"good-guest"),
        "attribute": data.index(b"running"),
        "end": len(data) - 1,
    }
    (bad / "nul.xml").write_bytes(data[: at[where]] + b"\0" + data[at[where] :])
    row = one_bad(root, good, bad / "nul.xml", "malformed_xml")
    assert "NUL" in row["message"]


def test_huge_sparse_file_is_never_read(mixed: tuple[Path, list[Path], Path]) -> None:
    """1 TiB of holes: reading it would take hours, so finishing at all shows it was not read."""
    root, good, bad = mixed
    huge = bad / "huge.xml"
    with huge.open("wb") as f:
        f.truncate(1 << 40)
    row = one_bad(root, good, huge, "too_large")
    assert str(1 << 40) in row["message"]


def test_file_size_cap_is_configurable(mixed: tuple[Path, list[Path], Path]) -> None:
    root, good, bad = mixed
    cap = max(p.stat().st_size for p in good) + 10
    (bad / "big.xml").write_bytes(GOOD_STATUS.encode() + b" " * cap)
    row = one_bad(root, good, bad / "big.xml", "too_large", max_file_size=cap)
    assert str(cap) in row["message"]


def nested(depth: int) -> str:
    return (
        "<domstatus state='running'><domain type='kvm'><name>deep</name><devices>"
        + "<a>" * depth
        + "</a>" * depth
        + "</devices></domain></domstatus>"
    )


@pytest.mark.parametrize(
    "where",
    ["devices", "metadata", "root"],
)
def test_hundred_thousand_levels_of_nesting(mixed: tuple[Path, list[Path], Path], where: str) -> None:
    root, good, bad = mixed
    depth = 100_000
    doc = {
        "devices": nested(depth),
        "metadata": f"<domain><metadata>{'<x>' * depth}{'</x>' * depth}</metadata></domain>",
        "root": f"<domain>{'<x>' * depth}{'</x>' * depth}</domain>",
    }[where]
    (bad / "deep.xml").write_text(doc)
    row = one_bad(root, good, bad / "deep.xml", "too_deep")
    assert "256" in row["message"]


def test_depth_limit_is_configurable(mixed: tuple[Path, list[Path], Path]) -> None:
    root, good, bad = mixed
    (bad / "deep.xml").write_text(nested(40))
    # Real status XML nests about 10 levels; 30 leaves room for the good files.
    row = one_bad(root, good, bad / "deep.xml", "too_deep", max_depth=30)
    assert "30" in row["message"]


def test_element_limit_is_configurable(mixed: tuple[Path, list[Path], Path]) -> None:
    root, good, bad = mixed
    limit = 2000
    body = "".join(f"<disk type='file'><alias name='d{i}'/></disk>" for i in range(limit))
    (bad / "many.xml").write_text(f"<domain><name>many</name><devices>{body}</devices></domain>")
    # The good files (a few hundred elements at most) stay under the limit.
    row = one_bad(root, good, bad / "many.xml", "too_many_elements", max_elements=limit)
    assert str(limit) in row["message"]


BILLION_LAUGHS = (
    "<?xml version='1.0'?>\n<!DOCTYPE domain [\n<!ENTITY lol 'lol'>\n"
    + "".join(
        f"<!ENTITY lol{i} '{('&lol' + (str(i - 1) if i > 1 else '') + ';') * 10}'>\n" for i in range(1, 10)
    )
    + "]>\n<domain><name>&lol9;</name></domain>\n"
)


def test_billion_laughs_is_refused_not_expanded(mixed: tuple[Path, list[Path], Path]) -> None:
    root, good, bad = mixed
    (bad / "lol.xml").write_text(BILLION_LAUGHS)
    row = one_bad(root, good, bad / "lol.xml", "malformed_xml")
    assert "DOCTYPE" in row["message"]
    assert "lol" not in row["message"]


def test_external_entities_are_refused_not_fetched(mixed: tuple[Path, list[Path], Path]) -> None:
    """The entities point at a FIFO: opening it would block, and the scan's timeout would fail the test."""
    root, good, bad = mixed
    fifo = root / "entity-target"
    os.mkfifo(fifo)
    docs = {
        "xxe-general.xml": f"<!DOCTYPE domain [<!ENTITY x SYSTEM 'file://{fifo}'>]><domain><name>&x;</name></domain>",
        "xxe-dtd.xml": f"<!DOCTYPE domain SYSTEM 'file://{fifo}'><domain><name>x</name></domain>",
        "xxe-parameter.xml": f"<!DOCTYPE domain [<!ENTITY % p SYSTEM 'file://{fifo}'> %p;]><domain/>",
        "xxe-http.xml": "<!DOCTYPE d [<!ENTITY x SYSTEM 'http://127.0.0.1:9/'>]><domain><name>&x;</name></domain>",
        "xinclude.xml": (
            "<domain xmlns:xi='http://www.w3.org/2001/XInclude'><name>x</name>"
            f"<xi:include href='file://{fifo}' parse='text'/></domain>"
        ),
    }
    for name, doc in docs.items():
        (bad / name).write_text(doc)

    def unblock() -> None:
        with open(fifo, "wb") as f:  # the reader is stuck on it: let it go
            f.write(b"x")

    result = scan_checked(root, files=len(good) + len(docs), timeout=60, unblock=unblock)
    assert_parsed(result, good)
    for name in docs:
        row = error_of(result, bad / name) if name != "xinclude.xml" else None
        if row is not None:
            assert row["kind"] == "malformed_xml", row
    # XInclude is not processed by libvirt either: the document parses, with nothing fetched.
    assert str(bad / "xinclude.xml") in result.domains["path"].to_list()


def test_a_million_attributes_on_one_element(mixed: tuple[Path, list[Path], Path]) -> None:
    root, good, bad = mixed
    attrs = "".join(f" a{i}='{i}'" for i in range(1_000_000))
    (bad / "attrs.xml").write_text(
        f"<domain><name>a</name><devices><disk type='file'{attrs}/></devices></domain>"
    )
    one_bad(root, good, bad / "attrs.xml", {"malformed_xml", "too_many_elements"})


def test_a_million_duplicate_attributes(mixed: tuple[Path, list[Path], Path]) -> None:
    """Duplicate attributes are not well-formed: libvirt's parser refuses the file, so must virtaudit."""
    root, good, bad = mixed
    attrs = " a='1'" * 1_000_000
    (bad / "attrs.xml").write_text(
        f"<domain><name>a</name><devices><disk type='file'{attrs}/></devices></domain>"
    )
    one_bad(root, good, bad / "attrs.xml", {"malformed_xml", "too_many_elements"})


@pytest.mark.parametrize("seed", range(8))
def test_binary_garbage(mixed: tuple[Path, list[Path], Path], seed: int) -> None:
    root, good, bad = mixed
    size = [1, 7, 100, 4096, 65_536, 1 << 20, 3, 500][seed]
    (bad / "garbage.xml").write_bytes(garbage(seed, size))
    one_bad(root, good, bad / "garbage.xml", {"malformed_xml", "not_utf8", "empty", "not_libvirt"})


def test_garbage_after_a_good_prefix(mixed: tuple[Path, list[Path], Path]) -> None:
    root, good, bad = mixed
    data = real_status_file()
    for i in range(50):
        cut = (i * 7919) % len(data)
        (bad / f"tail-{i:02d}.xml").write_bytes(data[:cut] + garbage(i, 64))
    result = scan_checked(root, files=len(good) + 50)
    assert_parsed(result, good)
    kinds = kinds_by_path(result)
    for i in range(50):
        assert kinds[str(bad / f"tail-{i:02d}.xml")] in {"malformed_xml", "not_utf8", "not_libvirt"}


def test_not_libvirt(mixed: tuple[Path, list[Path], Path]) -> None:
    root, good, bad = mixed
    (bad / "network.xml").write_text("<network><name>default</name></network>")
    # (libvirt's, but not a guest: outside a libvirt directory it is still an error row)
    row = one_bad(root, good, bad / "network.xml", "not_domain")
    assert "network" in row["message"]


# --------------------------------------------------------------------------------------------------
# the file system


def _permission_denied_scan(paths: list[str]) -> list[dict[str, Any]]:
    """The scan's error rows, run where DAC permissions apply (root bypasses them otherwise)."""
    script = (
        "import json, sys, virtaudit\n"
        "s = virtaudit.scan(*sys.argv[1:])\n"
        "print(json.dumps({'domains': s.domains['path'].to_list(), 'errors': s.errors.to_dicts()}))\n"
    )
    cmd = [sys.executable, "-c", script, *paths]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root, and setpriv (util-linux) is not there to drop CAP_DAC_OVERRIDE")
        # Root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH: file modes apply to it like to anyone.
        cmd = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0 and "Operation not permitted" in proc.stderr:
        pytest.skip(f"cannot drop DAC capabilities here: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return [{"domains": out["domains"]}, *out["errors"]]


def test_permission_denied(tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="virtaudit-perm-"))
    try:
        root.chmod(0o755)
        good = good_files(root / "good")
        locked = root / "good" / "locked.xml"
        locked.write_text(GOOD_STATUS)
        locked.chmod(0)
        closed_dir = root / "good" / "closed"
        closed_dir.mkdir()
        (closed_dir / "inside.xml").write_text(GOOD_STATUS)
        closed_dir.chmod(0)
        head, *errors = _permission_denied_scan([str(root / "good")])
        assert sorted(head["domains"]) == sorted(map(str, good)), errors
        by_path = {e["path"]: e for e in errors}
        assert len(errors) == 2, errors
        assert by_path[str(locked)]["kind"] == "permission", errors
        assert by_path[str(closed_dir)]["kind"] == "permission", errors
        assert "permission denied" in by_path[str(locked)]["message"]
    finally:
        for p in (root / "good" / "closed", root / "good" / "locked.xml"):
            if p.exists():
                p.chmod(0o755)
        shutil.rmtree(root)


def test_file_deleted_between_walk_and_read(tmp_path: Path) -> None:
    """The core lists the inputs first (the walk), then reads them: delete one in between."""
    from virtaudit import _core
    from virtaudit.scanning import Scan

    good = good_files(tmp_path / "h")
    doomed = tmp_path / "h" / "doomed.xml"
    doomed.write_text(GOOD_STATUS)
    limits = {"max_file_size": 1 << 26, "max_depth": 256, "max_elements": 1_000_000}
    scanner = _core.Scanner([str(tmp_path)], jobs=2, host_mode="parent", host_value=None, **limits)
    assert scanner.input_count == len(good) + 1
    doomed.unlink()

    def drain() -> list[Any]:
        out = []
        while (tables := scanner.next_batch(2)) is not None:
            out.append(Scan.from_tables({name: pl.DataFrame(tables[name]) for name in _core.TABLE_NAMES}))
        return out

    scans = run_with_timeout(drain)
    domains = pl.concat([s.domains for s in scans])
    errors = pl.concat([s.errors for s in scans])
    assert domains.height + errors.height == len(good) + 1
    assert sorted(domains["path"].to_list()) == sorted(map(str, good))
    (row,) = errors.to_dicts()
    assert row["path"] == str(doomed)
    assert row["kind"] == "not_found", row


def test_dangling_symlink(mixed: tuple[Path, list[Path], Path]) -> None:
    root, good, bad = mixed
    (bad / "dangling.xml").symlink_to(root / "nowhere.xml")
    one_bad(root, good, bad / "dangling.xml", "not_found")


def test_file_rewritten_while_it_is_read(tmp_path: Path) -> None:
    """A writer thread rewrites one file in place (truncate, then write in pieces) while scans run."""
    good = good_files(tmp_path / "h")
    hot = tmp_path / "h" / "hot.xml"
    versions = [GOOD_STATUS.encode(), real_status_file(), nested(150).encode() * 1]
    hot.write_bytes(versions[0])
    stop = threading.Event()
    rewrites = 0

    def writer() -> None:
        nonlocal rewrites
        i = 0
        while not stop.is_set():
            with open(hot, "r+b") as f:
                f.truncate(0)
                data = versions[i % len(versions)]
                for at in range(0, len(data), 1024):
                    f.write(data[at : at + 1024])
                    f.flush()
            i += 1
            rewrites += 1

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    outcomes: dict[str, int] = {}
    try:
        for _ in range(40):
            result = scan_checked(tmp_path, files=len(good) + 1)
            assert_parsed(result, good)
            kind = kinds_by_path(result)[str(hot)]
            outcomes[kind] = outcomes.get(kind, 0) + 1
    finally:
        stop.set()
        thread.join(10)
    assert rewrites > 0
    assert set(outcomes) <= {"parsed", "malformed_xml", "empty", "not_utf8"}, outcomes


def test_directory_symlink_loop(tmp_path: Path) -> None:
    good = good_files(tmp_path / "h")
    (tmp_path / "h" / "sub").mkdir()
    (tmp_path / "h" / "sub" / "up").symlink_to("..")
    (tmp_path / "h" / "sub" / "root").symlink_to(tmp_path)
    (tmp_path / "h" / "self.xml").symlink_to("self.xml")
    result = run_with_timeout(lambda: load_scan()(tmp_path))
    assert_parsed(result, good)
    assert result.domains.height == len(good), "a file was read twice through a loop"
    kinds = result.errors["kind"].to_list()
    assert "symlink_loop" in kinds, result.errors
    assert set(kinds) == {"symlink_loop"}, result.errors
    assert error_of(result, tmp_path / "h" / "self.xml")["kind"] == "symlink_loop"
    # files seen = documents + error rows (each loop found is one row)
    assert result.files == len(good) + len(kinds)


@pytest.mark.parametrize("how", ["walked", "named"])
def test_fifos_sockets_and_devices_are_never_opened(tmp_path: Path, how: str) -> None:
    good = good_files(tmp_path / "h")
    special_dir = tmp_path / "h" / "special"
    special_dir.mkdir()
    fifo = special_dir / "fifo.xml"
    os.mkfifo(fifo)
    sock_path = special_dir / "socket.xml"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    sock.listen(1)
    special = [fifo, sock_path]
    for name, dev in [("null.xml", "/dev/null"), ("zero.xml", "/dev/zero"), ("urandom.xml", "/dev/urandom")]:
        if os.path.exists(dev):
            (special_dir / name).symlink_to(dev)
            special.append(special_dir / name)

    def unblock() -> None:
        with open(fifo, "wb") as f:
            f.write(b"<x/>")

    try:
        if how == "walked":
            result = scan_checked(tmp_path, files=len(good) + len(special), timeout=60, unblock=unblock)
            assert_parsed(result, good)
        else:
            devices = [d for d in ("/dev/zero", "/dev/null", "/dev/full") if os.path.exists(d)]
            args = [*special, *devices]
            result = scan_checked(*args, files=len(args), timeout=60, unblock=unblock)
            for d in devices:
                assert error_of(result, d)["kind"] == "not_regular"
        for p in special:
            row = error_of(result, p)
            assert row["kind"] == "not_regular", row
            assert "never opened" in row["message"]
    finally:
        sock.close()


def test_non_utf8_paths(tmp_path: Path) -> None:
    raw_root = os.fsencode(tmp_path)
    host = raw_root + b"/host-\xff\xfe"
    os.mkdir(host)
    good = host + b"/guest-\xe9.xml"
    bad = host + b"/bad-\x80.xml"
    with open(good, "wb") as f:
        f.write(GOOD_STATUS.encode())
    with open(bad, "wb") as f:
        f.write(b"<domain>")
    # Walked, and named explicitly as str (surrogate-escaped, as os.fsdecode gives them).
    for args in ([tmp_path], [os.fsdecode(good), os.fsdecode(bad)]):
        result = scan_checked(*args, files=2)
        (path,) = result.domains["path"].to_list()
        assert path.endswith("guest-\ufffd.xml"), path
        assert result.domains["host"].to_list() == ["host-\ufffd\ufffd"]
        (row,) = result.errors.to_dicts()
        assert row["kind"] == "malformed_xml"
        assert row["path"].endswith("bad-\ufffd.xml")


def test_bytes_paths(tmp_path: Path) -> None:
    """``os.fsencode`` paths (bytes), as ``os.walk(bytes)`` and ``os.listdir(bytes)`` give them."""
    host = os.fsencode(tmp_path) + b"/host-\xff"
    os.mkdir(host)
    with open(host + b"/guest-\xe9.xml", "wb") as f:
        f.write(GOOD_STATUS.encode())
    for arg in (os.fsencode(tmp_path), host + b"/guest-\xe9.xml"):
        result = scan_checked(arg, files=1)  # type: ignore[arg-type]
        assert result.domains.height == 1, result.errors


# --------------------------------------------------------------------------------------------------
# archives


def archives_supported() -> None:
    from virtaudit import sources

    probe = Path(tempfile.mkdtemp(prefix="virtaudit-probe-"))
    try:
        with tarfile.open(probe / "p.tar", "w") as tf:
            info = tarfile.TarInfo("h/g.xml")
            info.size = len(GOOD_STATUS)
            tf.addfile(info, io.BytesIO(GOOD_STATUS.encode()))
        try:
            sources.scan_special(probe / "p.tar")
        except NotImplementedError:
            pytest.skip("archives are not supported yet (virtaudit.sources.scan_special)")
    finally:
        shutil.rmtree(probe)


def write_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    with tarfile.open(path, mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def archive_members(n: int) -> dict[str, bytes]:
    base = real_status_file()
    return {f"h/guest-{i:02d}.xml": base for i in range(n)}


def check_archive_scan(result: Any, archive: Path, plain_good: list[Path]) -> dict[str, dict[str, Any]]:
    """The plain files are all parsed; the archive's rows: members (each once) and at most one fault."""
    assert_parsed(result, plain_good)
    rows = {r["path"]: r for r in result.errors.to_dicts()}
    mine = [p for p in result.domains["path"].to_list() if p.startswith(str(archive))]
    assert len(mine) == len(set(mine))
    assert all(p in map(str, plain_good) for p in result.domains["path"] if not p.startswith(str(archive)))
    for r in rows.values():
        assert r["message"] and len(r["message"]) < 512, r
    return rows


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.95])
def test_truncated_compressed_archive(tmp_path: Path, fraction: float) -> None:
    archives_supported()
    good = good_files(tmp_path / "plain")
    whole = tmp_path / "whole.tar.gz"
    write_tar(whole, archive_members(12))
    data = whole.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: int(len(data) * fraction)])
    result = run_with_timeout(lambda: load_scan()(tmp_path / "plain", cut))
    rows = check_archive_scan(result, cut, good)
    archive_rows = [r for r in rows.values() if r["kind"] == "archive"]
    assert len(archive_rows) == 1, rows
    assert "truncated" in archive_rows[0]["message"] or "corrupt" in archive_rows[0]["message"]
    # Every member before the cut is kept (parsed, or a member error if it was cut itself).
    members = [p for p in [*result.domains["path"], *rows] if str(p).startswith(f"{cut}!")]
    assert len(members) <= 12


def test_corrupt_zip_member(tmp_path: Path) -> None:
    archives_supported()
    good = good_files(tmp_path / "plain")
    z = tmp_path / "fleet.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in archive_members(3).items():
            zf.writestr(name, data)
    raw = bytearray(z.read_bytes())
    # Flip bytes inside the second member's compressed data (after its local header).
    with zipfile.ZipFile(z) as zf:
        second = zf.infolist()[1]
        start = second.header_offset + 30 + len(second.filename) + len(second.extra) + 20
    for i in range(start, start + 40):
        raw[i] ^= 0x5A
    z.write_bytes(bytes(raw))
    result = run_with_timeout(lambda: load_scan()(tmp_path / "plain", z))
    rows = check_archive_scan(result, z, good)
    assert f"{z}!h/guest-00.xml" in result.domains["path"].to_list()
    bad = [r for r in rows.values() if r["path"].startswith(str(z))]
    assert len(bad) == 1, rows
    assert bad[0]["kind"] == "archive", bad
    assert "guest-01" in bad[0]["path"] or "guest-01" in bad[0]["message"], bad


def test_truncated_member_in_a_good_archive(tmp_path: Path) -> None:
    archives_supported()
    good = good_files(tmp_path / "plain")
    data = real_status_file()
    tar = tmp_path / "fleet.tar"
    write_tar(tar, {"h/ok.xml": data, "h/cut.xml": data[: len(data) // 2], "h/empty.xml": b""}, mode="w")
    result = scan_checked(tmp_path / "plain", tar, files=len(good) + 3)
    check_archive_scan(result, tar, good)
    assert error_of(result, f"{tar}!h/cut.xml")["kind"] == "malformed_xml"
    assert error_of(result, f"{tar}!h/empty.xml")["kind"] == "empty"


@pytest.mark.parametrize(
    "name", ["garbage.tar.gz", "garbage.zip", "empty.tar", "empty.zip", "garbage.tar.xz"]
)
def test_not_an_archive_at_all(tmp_path: Path, name: str) -> None:
    archives_supported()
    good = good_files(tmp_path / "plain")
    bogus = tmp_path / name
    bogus.write_bytes(b"" if name.startswith("empty") else garbage(3, 5000))
    result = run_with_timeout(lambda: load_scan()(tmp_path / "plain", bogus))
    rows = check_archive_scan(result, bogus, good)
    mine = [r for r in rows.values() if r["path"].startswith(str(bogus))]
    # An empty tar is a valid, empty archive; everything else is one `archive` row.
    if name != "empty.tar":
        assert len(mine) == 1 and mine[0]["kind"] == "archive", rows
    assert result.domains.height == len(good)


def test_xml_files_beside_a_dataset_are_still_read(tmp_path: Path) -> None:
    """A directory that holds a dataset (``virtaudit scan --out``) and status files: every file is an input.

    The scan must not silently take the directory for a dataset and drop the XML beside it.
    """
    if shutil.which("virtaudit") is None and not (Path(sys.executable).parent / "virtaudit").exists():
        pytest.skip("the virtaudit CLI is not installed yet")
    good = good_files(tmp_path / "hv-a")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "virtaudit.cli",
            "scan",
            str(tmp_path / "hv-a"),
            "--out",
            str(tmp_path / "ds"),
            "-q",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    later = good_files(tmp_path / "hv-b", count=2)
    (tmp_path / "hv-b" / "broken.xml").write_text(GOOD_STATUS[:200])
    result = run_with_timeout(lambda: load_scan()(tmp_path))
    assert_parsed(result, later)
    assert error_of(result, tmp_path / "hv-b" / "broken.xml")["kind"] == "malformed_xml"
    assert result.domains.height >= len(good) + len(later)


# --------------------------------------------------------------------------------------------------
# the command line: exit code 3 whenever an input failed, and every failure listed in every format

FORMATS = ["table", "json", "jsonl", "csv", "parquet", "junit", "sarif", "html", "github", "gitlab"]


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "virtaudit.cli", *args]
    return run_with_timeout(
        lambda: subprocess.run(cmd, capture_output=True, check=False, timeout=300, cwd=cwd), 310, args[0]
    )


def _cli_available() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "virtaudit.cli", "--version"], capture_output=True, check=False
    )
    return proc.returncode == 0


def test_cli_exit_3_and_every_failure_listed_in_every_format(tmp_path: Path) -> None:
    if not _cli_available():
        pytest.skip("the virtaudit CLI is not available yet")
    good_files(tmp_path / "good", count=3)
    bad = tmp_path / "bad"
    bad.mkdir()
    broken = {
        "empty-input.xml": b"",
        "cut-input.xml": GOOD_STATUS.encode()[:200],
        "utf16-input.xml": b"\xff\xfe" + GOOD_STATUS.encode("utf-16-le"),
        "doctype-input.xml": BILLION_LAUGHS.encode(),
    }
    for name, data in broken.items():
        (bad / name).write_bytes(data)
    os.mkfifo(bad / "fifo-input.xml")
    names = [*broken, "fifo-input.xml"]
    for fmt in FORMATS:
        target = tmp_path / f"report-{fmt}"
        # Relative paths, short enough that the table does not fold them.
        proc = _cli("audit", "good", "bad", "-f", fmt, "-o", str(target), "-q", "--limit", "0", cwd=tmp_path)
        assert proc.returncode == 3, (fmt, proc.returncode, proc.stderr[-2000:])
        text = target.read_bytes()
        if text[:4] == b"PAR1":
            text = pl.read_parquet(target).write_csv().encode()
        missing = [n for n in names if n.encode() not in text]
        assert not missing, f"-f {fmt}: unreadable inputs not listed: {missing}"
    # A clean scan of the good files alone does not exit 3.
    proc = _cli("audit", str(tmp_path / "good"), "-q", "--fail-on", "none")
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = _cli("scan", str(tmp_path / "good"), str(bad), "--out", str(tmp_path / "ds"), "-q")
    assert proc.returncode == 3, proc.stderr[-2000:]
    stored = pl.read_parquet(tmp_path / "ds" / "errors" / "**" / "*.parquet")
    assert sorted(Path(p).name for p in stored["path"]) == sorted(names)
    proc = _cli("show", str(bad / "cut-input.xml"))
    assert proc.returncode == 3, proc.stderr[-2000:]
