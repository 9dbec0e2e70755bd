"""Bad input: each bad file becomes exactly one error row naming it, with the schema.md kind, while the
good files next to it in the same scan are still read. The scan never writes to its inputs."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import REPO_ROOT, assert_files_seen, scan_tables
from reference_extractor import classify

HOST = "hostA"
PLANTED = "s3cret-planted-content"  # never to be echoed in a message or any table

GOOD_DOMAIN = b"""<domain type='kvm'>
  <name>good-domain</name>
  <uuid>aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee</uuid>
  <os><type arch='x86_64' machine='pc-q35-6.2'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='pci' index='0' model='pcie-root'/>
  </devices>
</domain>
"""
GOOD_STATUS = b"""<domstatus state='running' reason='booted' pid='1234'>
  <qemuCaps><flag name='kvm'/></qemuCaps>
  <devices><device alias='pci.1'/></devices>
  <domain type='kvm' id='1'>
    <name>good-status</name>
    <os><type arch='x86_64' machine='pc-i440fx-2.9'>hvm</type></os>
    <devices>
      <controller type='pci' index='0' model='pci-root'><alias name='pci.0'/></controller>
    </devices>
  </domain>
</domstatus>
"""
assert len(GOOD_DOMAIN) < 1000 and len(GOOD_STATUS) < 1000  # below the cap used by the too_large case

DOC_WITH_SECRET = GOOD_DOMAIN.replace(b"good-domain", PLANTED.encode())


def _nested(depth: int) -> bytes:
    inner = b"<x>" * depth + b"</x>" * depth
    return GOOD_DOMAIN.replace(b"<devices>", b"<metadata>" + inner + b"</metadata>\n  <devices>")


def _many(n: int) -> bytes:
    inner = b"<input type='mouse' bus='ps2'/>" * n
    return GOOD_DOMAIN.replace(b"</devices>", inner + b"</devices>")


CONTENT_CASES: dict[str, tuple[bytes, set[str], dict[str, Any]]] = {
    # name: (bytes, accepted kinds, scan kwargs)
    "empty": (b"", {"empty"}, {}),
    "truncated": (DOC_WITH_SECRET[: len(DOC_WITH_SECRET) // 2], {"malformed_xml"}, {}),
    "truncated_in_tag": (b"<domain type='kvm'><name>x</name><devi", {"malformed_xml"}, {}),
    "mismatched_tags": (b"<domain><name>x</nam></domain>", {"malformed_xml"}, {}),
    "two_roots": (GOOD_DOMAIN + b"<domain/>\n", {"malformed_xml"}, {}),
    "undefined_entity": (GOOD_DOMAIN.replace(b"good-domain", b"a&nbsp;b"), {"malformed_xml"}, {}),
    # not well-formed XML 1.0, though a lenient parser reads past each of them (libxml2, so libvirt,
    # refuses every one: the guest would be forgotten, so the file must not look healthy); see
    # WELL_FORMEDNESS_CASES
    "duplicate_attribute": (b"<domain type='kvm' type='qemu'><name>x</name></domain>", {"malformed_xml"}, {}),
    "lt_in_attribute": (GOOD_DOMAIN.replace(b"type='kvm'", b"type='k<vm'"), {"malformed_xml"}, {}),
    "control_char_in_text": (GOOD_DOMAIN.replace(b"good-domain", b"bad\x01name"), {"malformed_xml"}, {}),
    "nul_byte_in_text": (GOOD_DOMAIN.replace(b"good-domain", b"bad\x00name"), {"malformed_xml"}, {}),
    "charref_to_nul": (GOOD_DOMAIN.replace(b"good-domain", b"bad&#0;name"), {"malformed_xml"}, {}),
    "bare_ampersand": (GOOD_DOMAIN.replace(b"good-domain", b"a & b"), {"malformed_xml"}, {}),
    "cdata_end_in_text": (GOOD_DOMAIN.replace(b"good-domain", b"a ]]> b"), {"malformed_xml"}, {}),
    "double_hyphen_in_comment": (
        GOOD_DOMAIN.replace(b"<devices>", b"<!-- a -- b --><devices>"),
        {"malformed_xml"},
        {},
    ),
    "invalid_element_name": (GOOD_DOMAIN.replace(b"<devices>", b"<1abc/><devices>"), {"malformed_xml"}, {}),
    # names libxml2 refuses (so libvirt refuses the file) on tags whose attributes no table reads
    "invalid_attribute_name": (GOOD_DOMAIN.replace(b"<os>", b"<os 1x='1'>"), {"malformed_xml"}, {}),
    "unquoted_attribute_on_name": (GOOD_DOMAIN.replace(b"<name>", b"<name x=1>"), {"malformed_xml"}, {}),
    "invalid_device_name": (
        GOOD_DOMAIN.replace(b"<emulator>", b"<a@b/><emulator>"),
        {"malformed_xml"},
        {},
    ),
    "invalid_element_name_in_text": (
        GOOD_STATUS.replace(b"good-status", b"good<x@y/>-status"),
        {"malformed_xml"},
        {},
    ),
    "xml_declaration_not_first": (b"\n<?xml version='1.0'?>" + GOOD_DOMAIN, {"malformed_xml"}, {}),
    "reserved_pi_target": (GOOD_DOMAIN.replace(b"<devices>", b"<?xml x?><devices>"), {"malformed_xml"}, {}),
    "text_before_root": (b"junk" + GOOD_DOMAIN, {"malformed_xml"}, {}),
    # attribute syntax on an element the tables never read
    "unquoted_attribute_outside_devices": (
        GOOD_DOMAIN.replace(b"<devices>", b"<clock offset=utc/>\n  <devices>"),
        {"malformed_xml"},
        {},
    ),
    "attributes_without_space": (
        GOOD_DOMAIN.replace(b"model='pcie-root'", b"model='pcie-root'alias='x'"),
        {"malformed_xml"},
        {},
    ),
    "xml_declaration_twice": (
        b"<?xml version='1.0'?>" + b"<?xml version='1.0'?>" + GOOD_DOMAIN,
        {"malformed_xml"},
        {},
    ),
    "invalid_utf8_in_text": (GOOD_DOMAIN.replace(b"good-domain", b"bad-\xff-name"), {"not_utf8"}, {}),
    # bytes libvirt would refuse even where this tool never looks at the text
    "invalid_utf8_in_comment": (
        GOOD_DOMAIN.replace(b"<devices>", b"<!-- \xc3\x28 --><devices>"),
        {"not_utf8"},
        {},
    ),
    "overlong_utf8": (GOOD_DOMAIN.replace(b"good-domain", b"over\xc0\xaflong"), {"not_utf8"}, {}),
    "utf8_surrogate": (GOOD_DOMAIN.replace(b"good-domain", b"sur\xed\xa0\x80rogate"), {"not_utf8"}, {}),
    # a PNG header and some noise: both invalid UTF-8 and not XML, so either kind names it correctly
    "binary_garbage": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        {"not_utf8", "malformed_xml"},
        {},
    ),
    "ascii_garbage": (b"this is not XML at all " + PLANTED.encode() + b"\n", {"malformed_xml"}, {}),
    "not_libvirt": (b"<foo><domain type='kvm'><name>x</name></domain></foo>", {"not_libvirt"}, {}),
    "not_libvirt_capabilities": (
        b"<?xml version='1.0'?>\n<capabilities><host/></capabilities>",
        {"not_libvirt"},
        {},
    ),
    "utf16_bom": (GOOD_DOMAIN.decode().encode("utf-16"), {"not_utf8"}, {}),
    "utf16be_bom": (b"\xfe\xff" + GOOD_DOMAIN.decode().encode("utf-16-be"), {"not_utf8"}, {}),
    "utf32_bom": (GOOD_DOMAIN.decode().encode("utf-32"), {"not_utf8"}, {}),
    "doctype_entity": (
        b"<?xml version='1.0'?>\n<!DOCTYPE domain [\n  <!ENTITY planted '"
        + PLANTED.encode()
        + b"'>\n]>\n"
        + GOOD_DOMAIN.replace(b"good-domain", b"&planted;"),
        {"malformed_xml"},
        {},
    ),
    "billion_laughs": (
        b"<?xml version='1.0'?>\n<!DOCTYPE domain [\n<!ENTITY a 'lol'>\n"
        + b"".join(b"<!ENTITY %c '%s'>\n" % (98 + i, (b"&%c;" % (97 + i)) * 10) for i in range(9))
        + b"]>\n<domain type='kvm'><name>&j;</name></domain>\n",
        {"malformed_xml"},
        {},
    ),
    "doctype_external": (
        b"<!DOCTYPE domain SYSTEM 'http://127.0.0.1:9/never-fetched.dtd'>\n" + GOOD_DOMAIN,
        {"malformed_xml"},
        {},
    ),
    "too_large": (GOOD_DOMAIN + b"<!--" + b"x" * 2000 + b"-->\n", {"too_large"}, {"max_file_size": 1000}),
    "too_deep": (_nested(100), {"too_deep"}, {"max_depth": 50}),
    "too_many_elements": (_many(300), {"too_many_elements"}, {"max_elements": 200}),
}
WELL_FORMEDNESS_CASES = {
    "duplicate_attribute",
    "lt_in_attribute",
    "control_char_in_text",
    "nul_byte_in_text",
    "charref_to_nul",
    "bare_ampersand",
    "cdata_end_in_text",
    "double_hyphen_in_comment",
    "invalid_element_name",
    "invalid_attribute_name",
    "unquoted_attribute_on_name",
    "invalid_device_name",
    "invalid_element_name_in_text",
    "xml_declaration_not_first",
    "reserved_pi_target",
    "text_before_root",
    "unquoted_attribute_outside_devices",
    "attributes_without_space",
    "xml_declaration_twice",
}
assert set(CONTENT_CASES) >= WELL_FORMEDNESS_CASES


# --------------------------------------------------------------------------------------------------
# helpers


@dataclass
class Tree:
    root: Path  # the directory given to scan
    good: list[Path] = field(default_factory=list)

    @property
    def host_dir(self) -> Path:
        return self.root / HOST


def make_tree(tmp_path: Path) -> Tree:
    tree = Tree(tmp_path / "scanroot")
    tree.host_dir.mkdir(parents=True)
    for name, data in (("good-domain.xml", GOOD_DOMAIN), ("good-status.xml", GOOD_STATUS)):
        p = tree.host_dir / name
        p.write_bytes(data)
        tree.good.append(p)
    return tree


def tree_state(root: Path) -> dict[str, Any]:
    """Every entry under root (symlinks not followed): type, mode, and for files bytes and mtime."""
    state: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            entry: tuple[Any, ...] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            if stat.S_ISREG(st.st_mode) and os.access(p, os.R_OK):
                entry += (p.read_bytes(),)
            elif stat.S_ISLNK(st.st_mode):
                entry += (os.readlink(p),)
            state[str(p)] = entry
    return state


def check_result(
    tables: dict[str, pl.DataFrame],
    tree: Tree,
    bad: dict[str, set[str]],
) -> None:
    """bad: path -> accepted kinds. Each bad path is exactly one error row; every good file is a domain."""
    errors, domains = tables["errors"], tables["domains"]
    assert_files_seen(tables, len(tree.good) + len(bad))
    got = {r["path"]: r for r in errors.to_dicts()}
    assert errors["path"].n_unique() == errors.height, f"a file has several error rows: {errors.to_dicts()}"
    assert set(got) == set(bad), f"error rows for {sorted(got)}, expected {sorted(bad)}: {errors.to_dicts()}"
    for path, kinds in bad.items():
        row = got[path]
        assert row["kind"] in kinds, f"{path}: kind {row['kind']!r}, expected one of {sorted(kinds)}: {row}"
        assert row["host"] == HOST, row
        assert row["message"], f"{path}: empty message"
    assert sorted(domains["path"]) == sorted(str(p) for p in tree.good), "good files not all read"
    assert set(domains["name"]) == {"good-domain", "good-status"}
    for name, df in tables.items():
        for col, dtype in df.schema.items():
            if dtype == pl.String:
                leaked = df.filter(pl.col(col).str.contains(PLANTED, literal=True))
                assert leaked.height == 0, f"file content leaked into {name}.{col}: {leaked[col].to_list()}"


def run_scan_subprocess(
    args: list[str], kwargs: dict[str, Any], timeout: float, prefix: list[str] | None = None
) -> dict[str, pl.DataFrame]:
    """virtaudit.scan in a child process (so a hang can be killed), tables back as JSON."""
    script = (
        "import json, sys, virtaudit\n"
        "args, kwargs = json.loads(sys.argv[1])\n"
        "s = virtaudit.scan(*args, **kwargs)\n"
        "tables = ('domains', 'errors', 'devices', 'caps', 'live_aliases')\n"
        "out = {t: getattr(s, t).to_dicts() for t in tables}\n"
        "print(json.dumps(out, default=str))\n"
    )
    cmd = [*(prefix or []), sys.executable, "-c", script, json.dumps([args, kwargs])]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"scan({args}, {kwargs}) did not finish within {timeout}s (blocked on a special file?)")
    assert proc.returncode == 0, f"child scan failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    raw = json.loads(proc.stdout)
    schema = {"path": pl.String, "host": pl.String, "kind": pl.String, "message": pl.String}
    out = {}
    for t, rows in raw.items():
        if rows:
            out[t] = pl.DataFrame(rows, infer_schema_length=None)
        else:
            cols = {"domains": ["path", "host", "name"], "errors": list(schema)}.get(t, ["path", "host"])
            out[t] = pl.DataFrame({c: [] for c in cols}, schema={c: pl.String for c in cols})
    return out


# --------------------------------------------------------------------------------------------------
# content cases: through the directory walk and given explicitly


@pytest.mark.parametrize("case", sorted(CONTENT_CASES))
def test_bad_content_via_walk(tmp_path: Path, scan: Callable[..., Any], case: str) -> None:
    data, kinds, kwargs = CONTENT_CASES[case]
    tree = make_tree(tmp_path)
    bad = tree.host_dir / f"{case}.xml"
    bad.write_bytes(data)
    before = tree_state(tree.root)
    tables = scan_tables(scan(str(tree.root), **kwargs))
    assert tree_state(tree.root) == before, "the scan changed its inputs"
    check_result(tables, tree, {str(bad): kinds})
    row = tables["errors"].row(0, named=True)
    assert PLANTED not in row["message"]
    if row["kind"] == "malformed_xml" and case.startswith("truncated"):
        assert row["line"] is not None and row["line"] >= 1, f"no line for a truncated file: {row}"
        assert row["column"] is not None and row["column"] >= 1, f"no column for a truncated file: {row}"
    if row["kind"] == "not_utf8" and case.startswith("invalid_utf8_in_text"):
        assert row["line"] in (None, 2), row  # the bad byte is on line 2


@pytest.mark.parametrize("case", sorted(set(CONTENT_CASES) - WELL_FORMEDNESS_CASES))
def test_bad_content_given_explicitly(tmp_path: Path, scan: Callable[..., Any], case: str) -> None:
    data, kinds, kwargs = CONTENT_CASES[case]
    tree = make_tree(tmp_path)
    bad = tree.host_dir / f"{case}.xml"
    bad.write_bytes(data)
    args = [str(tree.good[0]), str(bad), str(tree.good[1])]
    tables = scan_tables(scan(*args, **kwargs))
    check_result(tables, tree, {str(bad): kinds})


@pytest.mark.parametrize("case", sorted(CONTENT_CASES))
def test_reference_classifies_like_the_schema(tmp_path: Path, case: str) -> None:
    """Keep the reference extractor honest on the cases it models."""
    data, kinds, kwargs = CONTENT_CASES[case]
    if kinds & {"too_deep", "too_many_elements"}:
        pytest.skip("the reference extractor does not model depth/element limits")
    p = tmp_path / "f.xml"
    p.write_bytes(data)
    assert classify(p, **{k: v for k, v in kwargs.items() if k == "max_file_size"}) in kinds


def test_all_bad_files_in_one_scan(tmp_path: Path, scan: Callable[..., Any]) -> None:
    """Every content case of the issue's list at once, next to the good files, with jobs > 1; one row each.
    (The finer well-formedness cases are checked one by one above.)"""
    tree = make_tree(tmp_path)
    bad: dict[str, set[str]] = {}
    for case, (data, kinds, kwargs) in CONTENT_CASES.items():
        if kwargs or case in WELL_FORMEDNESS_CASES:
            continue  # cases that need their own limits
        p = tree.host_dir / f"{case}.xml"
        p.write_bytes(data)
        bad[str(p)] = kinds
    before = tree_state(tree.root)
    for jobs in (1, 4):
        tables = scan_tables(scan(str(tree.root), jobs=jobs))
        check_result(tables, tree, bad)
    assert tree_state(tree.root) == before


def test_default_limits_accept_ordinary_files(tmp_path: Path, scan: Callable[..., Any]) -> None:
    tree = make_tree(tmp_path)
    (tree.host_dir / "deep-but-fine.xml").write_bytes(_nested(40))
    tree.good.append(tree.host_dir / "deep-but-fine.xml")
    tables = scan_tables(scan(str(tree.root)))
    assert tables["errors"].height == 0, tables["errors"].to_dicts()
    assert_files_seen(tables, 3)


def test_too_large_is_never_read_and_others_are(tmp_path: Path, scan: Callable[..., Any]) -> None:
    tree = make_tree(tmp_path)
    big = tree.host_dir / "big.xml"
    big.write_bytes(GOOD_DOMAIN + b"<!--" + b"x" * 5000 + b"-->")
    tables = scan_tables(scan(str(tree.root), max_file_size=1000))
    check_result(tables, tree, {str(big): {"too_large"}})
    # the same file is fine with the default cap
    tables = scan_tables(scan(str(tree.root)))
    assert tables["errors"].height == 0
    assert_files_seen(tables, 3)


# --------------------------------------------------------------------------------------------------
# file-system cases


def test_vanished_file(tmp_path: Path, scan: Callable[..., Any]) -> None:
    """A file that is gone between the walk and the read, simulated by a dangling symlink."""
    tree = make_tree(tmp_path)
    gone = tree.host_dir / "vanished.xml"
    gone.symlink_to(tree.host_dir / "deleted-target.xml")
    before = tree_state(tree.root)
    tables = scan_tables(scan(str(tree.root)))
    assert tree_state(tree.root) == before
    check_result(tables, tree, {str(gone): {"not_found"}})
    assert not (tree.host_dir / "deleted-target.xml").exists(), "the scan created the symlink target"


def test_file_symlink_is_followed(tmp_path: Path, scan: Callable[..., Any]) -> None:
    tree = make_tree(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "real.xml"
    target.write_bytes(GOOD_DOMAIN.replace(b"good-domain", b"via-link"))
    link = tree.host_dir / "link.xml"
    link.symlink_to(target)
    tables = scan_tables(scan(str(tree.root)))
    assert_files_seen(tables, 3)
    assert tables["errors"].height == 0
    row = tables["domains"].filter(pl.col("path") == str(link)).to_dicts()
    assert len(row) == 1 and row[0]["name"] == "via-link" and row[0]["host"] == HOST


def test_directory_symlink_loop(tmp_path: Path, scan: Callable[..., Any]) -> None:
    tree = make_tree(tmp_path)
    sub = tree.host_dir / "sub"
    sub.mkdir()
    loop = sub / "loop"
    loop.symlink_to("../..")  # sub/loop -> scanroot: a cycle back to an ancestor
    before = tree_state(tree.root)
    result = run_scan_subprocess([str(tree.root)], {}, timeout=120)
    assert tree_state(tree.root) == before
    errors, domains = result["errors"], result["domains"]
    assert domains.height + errors.height == len(tree.good) + 1, (domains.to_dicts(), errors.to_dicts())
    assert sorted(domains["path"]) == sorted(str(p) for p in tree.good), "good files read once each"
    loops = errors.filter(pl.col("kind") == "symlink_loop")
    assert loops.height == 1 and errors.height == 1, errors.to_dicts()
    assert loops["path"][0] == str(loop), f"the loop row should name the symlink {loop}: {loops.to_dicts()}"


def test_symlink_to_sibling_directory_is_not_a_loop(tmp_path: Path, scan: Callable[..., Any]) -> None:
    """A directory reached twice through a symlink that is not a cycle is walked, not refused."""
    tree = make_tree(tmp_path)
    other = tree.root / "hostB"
    other.mkdir()
    (other / "b.xml").write_bytes(GOOD_DOMAIN.replace(b"good-domain", b"b"))
    (tree.host_dir / "alias-of-b").symlink_to("../hostB")
    tables = scan_tables(scan(str(tree.root)))
    assert tables["errors"].height == 0, tables["errors"].to_dicts()
    # Whether the directory is read once (deduplicated by identity) or under both names is the scanner's
    # choice; schema.md does not say. It must be read, and never reported as a loop.
    names = tables["domains"]["name"].to_list()
    assert 1 <= names.count("b") <= 2, tables["domains"].select("path", "host", "name").to_dicts()
    assert_files_seen(tables, len(tree.good) + names.count("b"))


def test_fifo_is_not_opened(tmp_path: Path) -> None:
    """A FIFO named *.xml: not_regular, and the scan must not block on it (run in a child with a timeout)."""
    tree = make_tree(tmp_path)
    fifo = tree.host_dir / "pipe.xml"
    os.mkfifo(fifo)
    before = tree_state(tree.root)
    for args in ([str(tree.root)], [str(tree.good[0]), str(fifo), str(tree.good[1])]):
        result = run_scan_subprocess(args, {}, timeout=60)
        errors, domains = result["errors"], result["domains"]
        assert domains.height + errors.height == 3, (domains.to_dicts(), errors.to_dicts())
        assert errors.select("path", "kind").rows() == [(str(fifo), "not_regular")], errors.to_dicts()
        assert sorted(domains["path"]) == sorted(str(p) for p in tree.good)
    assert tree_state(tree.root) == before


def test_links_to_fifos_devices_and_sockets_are_not_regular(tmp_path: Path) -> None:
    """Types the walk learns only by following a link (or from the listing: a socket) are refused there.

    The scan reads what the walk listed without looking again, so the walk itself must sort these out.
    """
    import socket as socketlib

    tree = make_tree(tmp_path)
    os.mkfifo(tmp_path / "pipe")
    (tree.host_dir / "pipe-link.xml").symlink_to(tmp_path / "pipe")
    (tree.host_dir / "null-link.xml").symlink_to("/dev/null")
    odd = {str(tree.host_dir / "pipe-link.xml"), str(tree.host_dir / "null-link.xml")}
    listener = socketlib.socket(socketlib.AF_UNIX)
    sock_path = tree.host_dir / "s.xml"
    if len(str(sock_path)) < 100:  # AF_UNIX paths are short
        listener.bind(str(sock_path))
        odd.add(str(sock_path))
    try:
        result = run_scan_subprocess([str(tree.root)], {}, timeout=60)
    finally:
        listener.close()
    errors, domains = result["errors"], result["domains"]
    assert dict(errors.select("path", "kind").rows()) == dict.fromkeys(odd, "not_regular"), errors.to_dicts()
    assert all("never opened" in m for m in errors["message"]), errors.to_dicts()
    assert sorted(domains["path"]) == sorted(str(p) for p in tree.good)


def _drop_root_read_override() -> list[str] | None:
    """A command prefix that runs a child as root without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search"
    prefix = [setpriv, "--bounding-set", caps, "--inh-caps", caps]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    return prefix if probe.returncode == 0 else None


def test_unreadable_file(tmp_path: Path, scan: Callable[..., Any]) -> None:
    tree = make_tree(tmp_path)
    secret = tree.host_dir / "unreadable.xml"
    secret.write_bytes(GOOD_DOMAIN)
    secret.chmod(0)
    try:
        prefix = None
        if os.geteuid() == 0:
            prefix = _drop_root_read_override()
            if prefix is None:
                pytest.skip("running as root, which reads a mode-000 file anyway, and setpriv cannot drop it")
            check = subprocess.run([*prefix, "cat", str(secret)], capture_output=True)
            if check.returncode == 0:
                pytest.skip("running as root and the child can still read a mode-000 file")
        before = tree_state(tree.root)
        if prefix is None:
            tables = scan_tables(scan(str(tree.root)))
        else:
            tables = run_scan_subprocess([str(tree.root)], {}, timeout=120, prefix=prefix)
        assert tree_state(tree.root) == before
        errors, domains = tables["errors"], tables["domains"]
        assert domains.height + errors.height == 3
        assert errors.select("path", "kind").rows() == [(str(secret), "permission")], errors.to_dicts()
        assert sorted(domains["path"]) == sorted(str(p) for p in tree.good)
        assert stat.S_IMODE(secret.stat().st_mode) == 0, "the scan changed the file mode"
    finally:
        secret.chmod(0o644)


# --------------------------------------------------------------------------------------------------
# names: refused exactly where libxml2 (lxml here) refuses them, since libvirt reads status files with it

# First characters and later characters around the edges of XML 1.0's (fifth edition) name classes.
# (Not ':': a name with one is also a qualified name of XML namespaces, with rules of its own that lxml
# applies (declared prefixes, no empty parts) and this scanner does not judge.)
NAME_CHARS = (
    "a",
    "_",
    "1",
    "-",
    ".",
    "@",
    ";",
    "\u00b7",  # middle dot: a later character only
    "\u00c0",
    "\u00d7",  # multiplication sign: never
    "\u0300",  # combining grave: a later character only
    "\u0663",  # Arabic-Indic digit three: a first character too
    "\u037e",  # Greek question mark: never
    "\u200c",
    "\u2000",
    "\u203f",  # undertie: a later character only
    "\u3000",
    "\ufeff",
    "\ufffe",
    "\U00010000",
)
NAME_PLACES = {
    # (where, how the name is put into GOOD_STATUS)
    "attribute of a read element": lambda n: GOOD_STATUS.replace(b"<os>", f"<os {n}='1'>".encode()),
    "attribute of a device": lambda n: GOOD_STATUS.replace(
        b"model='pci-root'", f"model='pci-root' {n}='1'".encode()
    ),
    "element skipped": lambda n: GOOD_STATUS.replace(b"<os>", f"<os><{n}/>".encode()),
    "device element": lambda n: GOOD_STATUS.replace(b"<controller ", f"<{n}/><controller ".encode()),
    "element in qemuCaps": lambda n: GOOD_STATUS.replace(b"<flag ", f"<{n} x='1'/><flag ".encode()),
}


def _lxml_accepts(data: bytes) -> bool:
    from lxml import etree

    try:
        etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return False
    return True


def _assert_judged_like_lxml(tmp_path: Path, scan: Callable[..., Any], documents: dict[str, bytes]) -> None:
    """Each document (file name -> bytes) is an error row exactly where lxml refuses it, and the cases
    hold both verdicts."""
    files: dict[str, bool] = {}
    for name, data in documents.items():
        path = tmp_path / name
        path.write_bytes(data)
        files[str(path)] = _lxml_accepts(data)
    accepted = sum(files.values())
    assert 0 < accepted < len(files), "the cases must hold both good and bad documents"
    tables = scan_tables(scan(str(tmp_path)))
    refused = set(tables["errors"]["path"].to_list())
    differ = {p: ok for p, ok in files.items() if ok == (p in refused)}
    shown = {Path(p).name: ("lxml accepts" if ok else "lxml refuses") for p, ok in list(differ.items())[:10]}
    assert not differ, f"{len(differ)} of {len(files)} files judged otherwise than lxml: {shown}"
    assert set(tables["errors"]["kind"].to_list()) <= {"malformed_xml"}


@pytest.mark.parametrize("place", sorted(NAME_PLACES))
def test_names_are_refused_where_libxml2_refuses_them(
    tmp_path: Path, scan: Callable[..., Any], place: str
) -> None:
    documents = {
        f"n{i:02d}-{j:02d}-{k}.xml": NAME_PLACES[place](name)
        for i, first in enumerate(NAME_CHARS)
        for j, later in enumerate(NAME_CHARS)
        for k, name in enumerate((first + "x" + later, first))
    }
    _assert_judged_like_lxml(tmp_path, scan, documents)


# Code points around the edges of XML's Char class: as references (decimal and hex) and, where UTF-8
# can hold them, written out.
CHAR_POINTS = (
    0x1,
    0x8,
    0x9,
    0xA,
    0xB,
    0xD,
    0x1F,
    0x20,
    0x7F,
    0x85,
    0xD7FF,
    0xD800,
    0xE000,
    0xFFFD,
    0xFFFE,
    0xFFFF,
    0x10000,
    0x10FFFF,
    0x110000,
)
CHAR_PLACES = {
    "text read": lambda t: GOOD_STATUS.replace(b"good-status", b"good" + t + b"-status"),
    "attribute read": lambda t: GOOD_STATUS.replace(b"name='pci.0'", b"name='pci" + t + b".0'"),
    "text skipped": lambda t: GOOD_STATUS.replace(b"<os>", b"<os><cmdline>" + t + b"</cmdline>"),
    "attribute skipped": lambda t: GOOD_STATUS.replace(b"<os>", b"<os><boot x='" + t + b"'/>"),
    "text in a device": lambda t: GOOD_STATUS.replace(b"<alias ", t + b"<alias "),
}


@pytest.mark.parametrize("place", sorted(CHAR_PLACES))
def test_characters_are_refused_where_libxml2_refuses_them(
    tmp_path: Path, scan: Callable[..., Any], place: str
) -> None:
    documents: dict[str, bytes] = {}
    for cp in CHAR_POINTS:
        spellings = [f"&#{cp};".encode(), f"&#x{cp:X};".encode()]
        if cp > 0x7F and not 0xD800 <= cp <= 0xDFFF and cp <= 0x10FFFF:
            spellings.append(chr(cp).encode())
        for k, text in enumerate(spellings):
            documents[f"c{cp:06x}-{k}.xml"] = CHAR_PLACES[place](text)
    _assert_judged_like_lxml(tmp_path, scan, documents)
