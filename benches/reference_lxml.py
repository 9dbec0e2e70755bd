"""The lxml baseline of the benchmark: the same tables as ``virtaudit.scan``, written the fast way in Python.

``tests/reference_extractor.py`` is the correctness oracle of the tests: one XPath string per column,
evaluated uncompiled, row dicts checked against the schema. That makes it about 30x slower than lxml itself
parses, far below the "lxml parse + precompiled XPath" baseline of the engineering notes, and racing the
scanner against it would flatter the scanner. This module is what a competent Python author would write
for speed instead: one reused ``XMLParser``, precompiled ``etree.XPath`` objects for the domain-level
fields, direct child iteration for the devices, one descendant walk per device for the six ``has_*`` flags,
and column lists (no row dicts) turned into polars frames once at the end.

It reads the same contract (docs/schema.md) and the benchmark checks its tables equal to the scanner's on
the benchmark files before it reports a ratio. Files it cannot take on its fast path (a parse error, a
byte-order mark, a DOCTYPE, a foreign root, a read error) are handed to the test oracle, so the ``errors``
table follows the oracle's classification.

``extract(paths) -> dict[str, polars.DataFrame]`` (domains, devices, caps, live_aliases, errors); rows in
path order, then document order. ``extract_parallel(paths, processes)`` splits the sorted paths into
contiguous parts, one per process, and concatenates the parts' tables in the parent.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from lxml import etree

_TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(_TESTS) not in sys.path:
    sys.path.insert(0, str(_TESTS))

import reference_extractor as oracle  # noqa: E402  (tests/ on sys.path first)

SCHEMAS = oracle.SCHEMAS
TABLES = tuple(SCHEMAS)
DEVICE_COLUMNS = tuple(SCHEMAS["devices"])
DOMAIN_COLUMNS = tuple(SCHEMAS["domains"])
_ALIAS = DEVICE_COLUMNS.index("alias")

_BOMS = (b"\xfe\xff", b"\xff\xfe", b"\x00\x00\xfe\xff")
_DIGITS = frozenset("0123456789")

# Domain-level fields: precompiled XPath (string() gives the XPath string value, '' when absent).
_NAME = etree.XPath("string(name[1])")
_UUID = etree.XPath("string(uuid[1])")
_EMULATOR = etree.XPath("string(devices/emulator[1])")
_OS_TYPE = etree.XPath("os[1]/type[1]")
_DOMAIN = etree.XPath("domain[1]")
_FLAGS = etree.XPath("qemuCaps/flag")
_LIVE = etree.XPath("devices/device")
_BLOCKJOBS = etree.XPath("blockjobs[1]")
_HAS_QEMU_CAPS = etree.XPath("boolean(qemuCaps)")
_HAS_DEVICES = etree.XPath("boolean(devices)")
_DEVICES = etree.XPath("devices")
_JOB = etree.XPath("job[1]")
_HAS_DBUS = etree.XPath("boolean(dbusDaemon)")
_IOTHREADS = etree.XPath("string(iothreads[1])")
_TPM_BACKEND = etree.XPath("(devices/tpm/backend)[1]")
_NBDKIT = etree.XPath("boolean(source/privateData/nbdkit)")


def number(text: str | None) -> int | None:
    """libvirt's ``virStrToLong_ui(..., 0, ...)``: a fast path for plain decimals, else the oracle's."""
    if text is None:
        return None
    if text and text[0] != "0" and len(text) < 10 and _DIGITS.issuperset(text):
        return int(text)
    if text == "0":
        return 0
    return oracle.parse_number(text)


def signed(text: str | None) -> int | None:
    """``id`` and ``pid``: signed decimal, as the oracle (and libvirt) read them."""
    if text is None:
        return None
    if text and text[0] != "0" and len(text) < 10 and _DIGITS.issuperset(text):
        return int(text)
    return oracle.parse_signed(text)


def _localname(tag: str) -> str:
    return tag.rpartition("}")[2] if tag[0] == "{" else tag


class _Columns:
    """Column lists of the five tables."""

    def __init__(self) -> None:
        self.domains: list[tuple[Any, ...]] = []
        self.devices: list[tuple[Any, ...]] = []
        self.caps_path: list[str] = []
        self.caps_host: list[str] = []
        self.caps_flag: list[str | None] = []
        self.live_path: list[str] = []
        self.live_host: list[str] = []
        self.live_alias: list[str | None] = []
        self.live_in_definition: list[bool] = []
        self.fallback: list[str] = []

    def frames(self, host_from_parent: bool, host: str) -> dict[str, pl.DataFrame]:
        out = {
            "domains": pl.DataFrame(self.domains, schema=SCHEMAS["domains"], orient="row"),
            "devices": pl.DataFrame(self.devices, schema=SCHEMAS["devices"], orient="row"),
            "caps": pl.DataFrame(
                {"path": self.caps_path, "host": self.caps_host, "flag": self.caps_flag},
                schema=SCHEMAS["caps"],
            ),
            "live_aliases": pl.DataFrame(
                {
                    "path": self.live_path,
                    "host": self.live_host,
                    "alias": self.live_alias,
                    "in_definition": self.live_in_definition,
                },
                schema=SCHEMAS["live_aliases"],
            ),
            "errors": pl.DataFrame(schema=SCHEMAS["errors"]),
        }
        if self.fallback:
            # Rare: files off the fast path go through the oracle, then every table is re-sorted by path.
            other = oracle.extract(self.fallback, host_from_parent, host=host)
            for name in TABLES:
                merged = pl.concat([out[name], other[name]])
                keys = ["path", "ordinal"] if name == "devices" else ["path"]
                out[name] = merged.sort(keys, maintain_order=True)
        return out


def _device(path: str, host: str, ordinal: int, el: Any, tag: str) -> tuple[Any, ...]:
    element = _localname(tag)
    model_el = el.find("model")
    model = el.get("model")
    if model is None and model_el is not None:
        model = model_el.get("type")
    alias_el = el.find("alias")
    alias = alias_el.get("name") if alias_el is not None else None
    address = el.find("address")
    address_type = address.get("type") if address is not None else None
    pci = address_type == "pci"
    if pci:
        pci_domain = number(address.get("domain"))
        pci_bus = number(address.get("bus"))
        pci_slot = number(address.get("slot"))
        pci_function = number(address.get("function"))
        mf = address.get("multifunction")
        multifunction = True if mf == "on" else False if mf == "off" else None
    else:
        pci_domain = pci_bus = pci_slot = pci_function = multifunction = None
    dimm_slot = number(address.get("slot")) if address_type == "dimm" else None
    if element == "controller" and (target := el.find("target")) is not None:
        t_index = number(target.get("index"))
        t_chassis = number(target.get("chassis"))
        t_port = number(target.get("port"))
        t_hotplug = target.get("hotplug")
    else:
        t_index = t_chassis = t_port = t_hotplug = None
    auth = encryption = tls = private_objects = origstates = actual = False
    for sub in el.iterdescendants():
        t = sub.tag
        if t == "source":
            if sub.get("tls") == "yes":
                tls = True
        elif t == "auth":
            auth = True
        elif t == "encryption":
            encryption = True
        elif t == "objects":
            if sub.getparent().tag == "privateData" and sub.getparent() is not el:
                private_objects = True
        elif t == "origstates":
            origstates = True
        elif t == "actual":
            actual = True
    return (
        path,
        host,
        ordinal,
        element,
        el.get("type"),
        model,
        model_el.get("name") if model_el is not None else None,
        number(el.get("index")),
        alias,
        alias is not None and alias.startswith("ua-"),
        address_type,
        pci_domain,
        pci_bus,
        pci_slot,
        pci_function,
        multifunction,
        dimm_slot,
        t_index,
        t_chassis,
        t_port,
        t_hotplug,
        model_el.get("device") if element == "video" and model_el is not None else None,
        el.get("managed"),
        auth,
        encryption,
        tls,
        private_objects,
        origstates,
        actual,
        _volume_actual_type(el) if element == "disk" else None,
        bool(_NBDKIT(el)) if element == "disk" else None,
    )


def _volume_actual_type(disk: Any) -> str | None:
    if disk.get("type") != "volume":
        return None
    source = disk.find("source")
    return source.get("actualType") if source is not None else None


def _one(path: str, host: str, data: bytes, parser: etree.XMLParser, out: _Columns) -> bool:
    """Adds one file's rows; False when the file is off the fast path (the oracle takes it)."""
    if not data or data.startswith(_BOMS) or b"<!DOCTYPE" in data:
        return False
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return False
    tag = root.tag
    if tag == "domstatus":
        status = True
        found = _DOMAIN(root)
        dom = found[0] if found else None
    elif tag == "domain":
        status = False
        dom = root
    else:
        return False

    rows = []
    if dom is not None:
        for devs in _DEVICES(dom):
            for el in devs.iterchildren(etree.Element):
                t = el.tag
                if t == "emulator":
                    continue
                rows.append(_device(path, host, len(rows), el, t))
    devices = len(rows)
    caps = 0
    live = 0
    listed: set[str | None] = set()
    if status:
        for flag in _FLAGS(root):
            out.caps_flag.append(flag.get("name"))
            caps += 1
        out.caps_path.extend([path] * caps)
        out.caps_host.extend([host] * caps)
        defined = {row[_ALIAS] for row in rows if row[_ALIAS] is not None}
        for device in _LIVE(root):
            alias = device.get("alias")
            listed.add(alias)
            out.live_alias.append(alias)
            out.live_in_definition.append(alias in defined)
            live += 1
        out.live_path.extend([path] * live)
        out.live_host.extend([host] * live)
    # (whether QEMU's list names each device's alias: null without a list or an alias)
    has_list = status and bool(_HAS_DEVICES(root))
    uses = Counter(row[_ALIAS] for row in rows if row[_ALIAS] is not None)
    for row in rows:
        alias = row[_ALIAS]
        in_list = alias in listed if has_list and alias is not None else None
        out.devices.append((*row, in_list, uses[alias] > 1 if alias is not None else None))

    if dom is not None:
        os_type = _OS_TYPE(dom)
        os_type = os_type[0] if os_type else None
        name, uuid, emulator = _NAME(dom) or None, _UUID(dom) or None, _EMULATOR(dom) or None
        dom_id, virt_type = signed(dom.get("id")), dom.get("type")
        iothreads = oracle.parse_decimal(_IOTHREADS(dom) or None)
        backend = _TPM_BACKEND(dom)
        tpm_backend = backend[0].get("type") if backend else None
    else:
        os_type = name = uuid = emulator = dom_id = virt_type = iothreads = tpm_backend = None
    if status:
        jobs = _BLOCKJOBS(root)
        state, reason, pid = root.get("state"), root.get("reason"), signed(root.get("pid"))
        blockjobs = jobs[0].get("active") if jobs else None
        has_caps, has_live = bool(_HAS_QEMU_CAPS(root)), bool(_HAS_DEVICES(root))
        job = _JOB(root)
        job_async, job_phase = (job[0].get("async"), job[0].get("phase")) if job else (None, None)
        dbus_daemon: bool | None = bool(_HAS_DBUS(root))
    else:
        state = reason = pid = blockjobs = job_async = job_phase = dbus_daemon = None
        has_caps = has_live = False
    out.domains.append(
        (
            path,
            host,
            "status" if status else "domain",
            name,
            uuid,
            dom_id,
            virt_type,
            state,
            reason,
            pid,
            os_type.get("arch") if os_type is not None else None,
            os_type.get("machine") if os_type is not None else None,
            emulator,
            has_caps,
            caps,
            has_live,
            live,
            blockjobs,
            devices,
            len(data),
            job_async,
            job_phase,
            dbus_daemon,
            iothreads,
            tpm_backend,
        )
    )
    return True


def extract(
    paths: Iterable[str | os.PathLike[str]],
    host_from_parent: bool = True,
    *,
    host: str = "",
    max_file_size: int = oracle.DEFAULT_MAX_FILE_SIZE,
) -> dict[str, pl.DataFrame]:
    """The five tables of ``paths`` (files, used as given), as ``tests/reference_extractor.extract``."""
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=True)
    out = _Columns()
    for p in sorted({os.fspath(p) for p in paths}):
        h = os.path.basename(os.path.dirname(p)) if host_from_parent else host
        try:
            with open(p, "rb") as f:
                data = f.read(max_file_size + 1)
        except OSError:
            out.fallback.append(p)
            continue
        if len(data) > max_file_size or not _one(p, h, data, parser, out):
            out.fallback.append(p)
    return out.frames(host_from_parent, host)


def _extract_part(paths: Sequence[str]) -> dict[str, pl.DataFrame]:
    return extract(paths)


def extract_parallel(paths: Iterable[str | os.PathLike[str]], processes: int = 2) -> dict[str, pl.DataFrame]:
    """``extract`` in ``processes`` worker processes over contiguous parts of the sorted paths."""
    ordered = sorted({os.fspath(p) for p in paths})
    if processes <= 1 or len(ordered) < 2:
        return extract(ordered)
    size = -(-len(ordered) // processes)
    parts = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    # fork: the workers share the parent's imports (lxml, polars) instead of importing them again.
    context = multiprocessing.get_context("fork")
    with context.Pool(len(parts)) as pool:
        results = pool.map(_extract_part, parts)
    return {name: pl.concat([r[name] for r in results]) for name in TABLES}


if __name__ == "__main__":  # manual use: python benches/reference_lxml.py DIR_OR_FILES...
    import time

    files: list[str] = []
    for arg in sys.argv[1:]:
        p = Path(arg)
        files.extend(str(f) for f in sorted(p.rglob("*.xml"))) if p.is_dir() else files.append(str(p))
    start = time.perf_counter()
    tables = extract(files)
    seconds = time.perf_counter() - start
    size = sum(os.path.getsize(f) for f in files)
    print(f"{len(files)} files, {size / 1e6:.1f} MB in {seconds:.2f} s: {size / 1e6 / seconds:.1f} MB/s")
    for name, frame in tables.items():
        print(f"  {name}: {frame.height} rows")
