"""Independent reference extractor for the virtaudit scan tables.

Written from ``docs/schema.md`` alone (not from the Rust scanner) with lxml and XPath, so that the
comparison tests check the scanner against a second, separately written reading of the same contract.
It is slow and simple on purpose: one ``lxml.etree`` tree per file, one XPath per column.

``extract(paths)`` returns the five tables ``domains``, ``devices``, ``caps``, ``live_aliases`` and
``errors`` with the column names, order and dtypes of ``docs/schema.md``.

Choices the schema leaves open, made here the way libvirt itself reads the XML:

* Element text (``name``, ``uuid``, ``emulator``) is the XPath string value of the first matching element
  (all descendant text nodes, entities decoded, CDATA included, comments skipped), not trimmed. An absent
  element *or* an empty string value gives null, as libvirt's ``virXPathString`` does.
* Element paths match elements in no namespace only (``<ns:devices>`` in ``<metadata>`` is not
  ``devices``), exactly as libvirt's XPath queries without a prefix do.
* Numbers: ``strtoul`` base 0 as libvirt's ``virStrToLong_ui`` uses it: optional leading C whitespace,
  optional ``+`` (any ``-`` gives null), ``0x``/``0X`` hexadecimal, leading
  ``0`` octal, else decimal; the whole rest of the string must be digits; above ``UINT32_MAX`` is null.
  The ``i64`` columns ``id`` and ``pid`` are signed decimal, as libvirt reads them.
* Errors are classified in this order: ``not_found``/``permission``/``io`` (stat), ``not_regular``,
  ``too_large``, ``io``/``permission`` (read), ``empty`` (zero bytes), ``not_utf8`` (UTF-16/32 byte-order
  mark, or bytes that are not valid UTF-8 anywhere in the file), ``malformed_xml`` (libxml2 refuses it, or
  it has a DOCTYPE at all), ``not_libvirt`` (root not ``domain``/``domstatus`` in no namespace),
  ``not_domain`` (root one of libvirt's other objects: :data:`LIBVIRT_OTHER_ROOTS`).
  ``too_deep``/``too_many_elements``/``symlink_loop``/``archive``/``glob`` are not produced here.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl
from lxml import etree

U32_MAX = 0xFFFF_FFFF
DEFAULT_MAX_FILE_SIZE = 64 * 1024 * 1024

S = pl.String
DOMAINS_SCHEMA: dict[str, Any] = {
    "path": S,
    "host": S,
    "kind": S,
    "name": S,
    "uuid": S,
    "id": pl.Int64,
    "virt_type": S,
    "state": S,
    "reason": S,
    "pid": pl.Int64,
    "arch": S,
    "machine": S,
    "emulator": S,
    "has_qemu_caps": pl.Boolean,
    "caps_count": pl.UInt32,
    "has_live_devices": pl.Boolean,
    "live_alias_count": pl.UInt32,
    "blockjobs_active": S,
    "device_count": pl.UInt32,
    "file_size": pl.UInt64,
    "job_async": S,
    "job_phase": S,
    "dbus_daemon": pl.Boolean,
    "iothreads": pl.UInt32,
    "tpm_backend": S,
}
DEVICES_SCHEMA: dict[str, Any] = {
    "path": S,
    "host": S,
    "ordinal": pl.UInt32,
    "element": S,
    "type": S,
    "model": S,
    "model_name": S,
    "index": pl.UInt32,
    "alias": S,
    "user_alias": pl.Boolean,
    "address_type": S,
    "pci_domain": pl.UInt32,
    "pci_bus": pl.UInt32,
    "pci_slot": pl.UInt32,
    "pci_function": pl.UInt32,
    "multifunction": pl.Boolean,
    "dimm_slot": pl.UInt32,
    "target_index": pl.UInt32,
    "target_chassis": pl.UInt32,
    "target_port": pl.UInt32,
    "target_hotplug": S,
    "video_device": S,
    "managed": S,
    "has_auth": pl.Boolean,
    "has_encryption": pl.Boolean,
    "has_tls": pl.Boolean,
    "has_private_objects": pl.Boolean,
    "has_origstates": pl.Boolean,
    "has_actual": pl.Boolean,
    "volume_actual_type": S,
    "nbdkit": pl.Boolean,
    "in_live_list": pl.Boolean,
    "alias_repeated": pl.Boolean,
}
CAPS_SCHEMA: dict[str, Any] = {"path": S, "host": S, "flag": S}
LIVE_ALIASES_SCHEMA: dict[str, Any] = {"path": S, "host": S, "alias": S, "in_definition": pl.Boolean}
ERRORS_SCHEMA: dict[str, Any] = {
    "path": S,
    "host": S,
    "kind": S,
    "message": S,
    "line": pl.UInt32,
    "column": pl.UInt32,
}
SCHEMAS: dict[str, dict[str, Any]] = {
    "domains": DOMAINS_SCHEMA,
    "devices": DEVICES_SCHEMA,
    "caps": CAPS_SCHEMA,
    "live_aliases": LIVE_ALIASES_SCHEMA,
    "errors": ERRORS_SCHEMA,
}
TABLES = tuple(SCHEMAS)

_C_SPACE = " \t\n\v\f\r"
_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32 BE"),
    (b"\xff\xfe\x00\x00", "UTF-32 LE"),
    (b"\xfe\xff", "UTF-16 BE"),
    (b"\xff\xfe", "UTF-16 LE"),
)


def parse_number(text: str | None) -> int | None:
    """``virStrToLong_ui(text, &end, 0, &out)`` with the end required at the end of the string."""
    if text is None:
        return None
    s = text.lstrip(_C_SPACE)
    negative = False
    if s[:1] in ("+", "-"):
        negative = s[0] == "-"
        s = s[1:]
    if s[:2] in ("0x", "0X") and len(s) > 2:
        base, digits, allowed = 16, s[2:], "0123456789abcdefABCDEF"
    elif s.startswith("0"):
        base, digits, allowed = 8, s, "01234567"
    else:
        base, digits, allowed = 10, s, "0123456789"
    if not digits or any(c not in allowed for c in digits):
        return None
    value = int(digits, base)
    if negative:
        return None  # libvirt's unsigned parsers refuse a sign; "-0" included
    if value > U32_MAX:
        return None
    return value


def _first(node: etree._Element, xpath: str) -> Any:
    found = node.xpath(xpath)
    return found[0] if found else None


def _text(node: etree._Element | None, xpath: str) -> str | None:
    """XPath string value of the first match of ``xpath`` (null when absent or empty, like libvirt)."""
    if node is None:
        return None
    el = _first(node, xpath)
    if el is None:
        return None
    value = str(el.xpath("string(.)"))
    return value or None


def _attr(node: etree._Element | None, name: str) -> str | None:
    if node is None:
        return None
    value = node.get(name)
    return None if value is None else str(value)


def _has(node: etree._Element, xpath: str) -> bool:
    return bool(node.xpath(xpath))


def _localname(el: etree._Element) -> str:
    return str(etree.QName(el).localname)


LIBVIRT_OTHER_ROOTS = (
    "network",
    "networkport",
    "filter",
    "filterbinding",
    "pool",
    "volume",
    "secret",
    "device",
    "interface",
    "domainsnapshot",
    "domaincheckpoint",
    "domainbackup",
)
"""As rust/virtaudit-core's parse::LIBVIRT_OTHER_ROOTS."""


class _Tables:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}

    def add(self, table: str, **values: Any) -> None:
        schema = SCHEMAS[table]
        assert set(values) == set(schema), (table, set(values) ^ set(schema))
        self.rows[table].append(values)

    def frames(self) -> dict[str, pl.DataFrame]:
        out = {}
        for table, schema in SCHEMAS.items():
            rows = self.rows[table]
            data = {col: [r[col] for r in rows] for col in schema}
            out[table] = pl.DataFrame(data, schema=schema)
        return out


class _FileError(Exception):
    def __init__(self, kind: str, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column


def _os_error_kind(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "not_found"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission"
    return "io"


def _read(path: str, max_file_size: int) -> bytes:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _FileError(_os_error_kind(exc), f"stat failed: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _FileError("not_regular", "not a regular file")
    if st.st_size > max_file_size:
        raise _FileError("too_large", f"{st.st_size} bytes is above max_file_size={max_file_size}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise _FileError(_os_error_kind(exc), f"read failed: {exc.strerror}") from None
    if len(data) > max_file_size:
        raise _FileError("too_large", f"{len(data)} bytes is above max_file_size={max_file_size}")
    return data


def _parse(data: bytes) -> etree._Element:
    if not data:
        raise _FileError("empty", "empty file")
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise _FileError("not_utf8", f"{name} byte-order mark", 1, 1)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise _FileError("not_utf8", "invalid UTF-8", line, column) from None
    parser = etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        dtd_validation=False,
        huge_tree=True,
        remove_blank_text=False,
        strip_cdata=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        raise _FileError("malformed_xml", f"not well-formed: {exc.msg}", line, column) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _FileError("malformed_xml", "DOCTYPE / entity declarations are refused", None, None)
    if root.tag in LIBVIRT_OTHER_ROOTS:
        raise _FileError("not_domain", f"root element is <{root.tag}>", root.sourceline, None)
    if root.tag not in ("domain", "domstatus"):
        raise _FileError(
            "not_libvirt",
            f"root element <{_localname(root)}> is neither <domain> nor <domstatus>",
            root.sourceline,
            None,
        )
    if root.tag == "domstatus" and root.find("domain") is None:
        # libvirt cannot load such a status file: it forgets the guest. Not a document, an error.
        raise _FileError("not_libvirt", "<domstatus> without a <domain> element", root.sourceline, None)
    return root


def parse_decimal(text: str | None) -> int | None:
    """Counts such as ``<iothreads>``: libvirt's ``virXPathUInt`` reads them base 10, the whole string."""
    if text is None:
        return None
    s = text.lstrip(_C_SPACE)
    if s[:1] == "+":
        s = s[1:]
    if not s or not s.isascii() or not s.isdigit():
        return None
    value = int(s)
    return value if value <= U32_MAX else None


def parse_signed(text: str | None) -> int | None:
    """``id`` and ``pid``: libvirt reads them as signed decimal numbers (base 10)."""
    if text is None:
        return None
    s = text.lstrip(_C_SPACE)
    body = s[1:] if s[:1] in ("+", "-") else s
    if not body or not body.isascii() or not body.isdigit():
        return None
    value = int(s)
    return value if -(2**63) <= value < 2**63 else None


def _device_row(path: str, host: str, ordinal: int, el: etree._Element) -> dict[str, Any]:
    element = _localname(el)
    model_el = _first(el, "model[1]")
    model = _attr(el, "model")
    if model is None:
        model = _attr(model_el, "type")
    alias = _attr(_first(el, "alias[1]"), "name")
    address = _first(el, "address[1]")
    address_type = _attr(address, "type")
    pci = address_type == "pci"
    multifunction = None
    if pci:
        mf = _attr(address, "multifunction")
        multifunction = {"on": True, "off": False}.get(mf) if mf is not None else None
    controller = element == "controller"
    target = _first(el, "target[1]") if controller else None
    return {
        "path": path,
        "host": host,
        "ordinal": ordinal,
        "element": element,
        "type": _attr(el, "type"),
        "model": model,
        "model_name": _attr(model_el, "name"),
        "index": parse_number(_attr(el, "index")),
        "alias": alias,
        "user_alias": alias is not None and alias.startswith("ua-"),
        "address_type": address_type,
        "pci_domain": parse_number(_attr(address, "domain")) if pci else None,
        "pci_bus": parse_number(_attr(address, "bus")) if pci else None,
        "pci_slot": parse_number(_attr(address, "slot")) if pci else None,
        "pci_function": parse_number(_attr(address, "function")) if pci else None,
        "multifunction": multifunction,
        "dimm_slot": parse_number(_attr(address, "slot")) if address_type == "dimm" else None,
        "target_index": parse_number(_attr(target, "index")),
        "target_chassis": parse_number(_attr(target, "chassis")),
        "target_port": parse_number(_attr(target, "port")),
        "target_hotplug": _attr(target, "hotplug"),
        "video_device": _attr(model_el, "device") if element == "video" else None,
        "managed": _attr(el, "managed"),
        "has_auth": _has(el, ".//auth"),
        "has_encryption": _has(el, ".//encryption"),
        "has_tls": _has(el, ".//source[@tls='yes']"),
        "has_private_objects": _has(el, ".//privateData/objects"),
        "has_origstates": _has(el, ".//origstates"),
        "has_actual": _has(el, ".//actual"),
        "volume_actual_type": (
            _attr(_first(el, "source[1]"), "actualType")
            if element == "disk" and _attr(el, "type") == "volume"
            else None
        ),
        "nbdkit": _has(el, "source/privateData/nbdkit") if element == "disk" else None,
    }


def _extract_one(path: str, host: str, root: etree._Element, size: int, out: _Tables) -> None:
    status = root.tag == "domstatus"
    dom = _first(root, "domain[1]") if status else root
    # Namespaced children of <devices> are not devices: libvirt's XPath queries have no prefix.
    devices = dom.xpath("devices/*[namespace-uri()='' and not(self::emulator)]") if dom is not None else []
    rows = [_device_row(path, host, ordinal, el) for ordinal, el in enumerate(devices)]
    # An item without its attribute names nothing: no row (libvirt would refuse the file anyway).
    flags = root.xpath("qemuCaps/flag[@name]") if status else []
    for flag in flags:
        out.add("caps", path=path, host=host, flag=_attr(flag, "name"))
    live = root.xpath("devices/device[@alias]") if status else []
    listed = {_attr(device, "alias") for device in live}
    has_list = status and _has(root, "devices")
    uses = Counter(row["alias"] for row in rows if row["alias"] is not None)
    for row in rows:
        alias = row["alias"]
        row["in_live_list"] = alias in listed if has_list and alias is not None else None
        row["alias_repeated"] = uses[alias] > 1 if alias is not None else None
        out.add("devices", **row)
    for device in live:
        alias = _attr(device, "alias")
        out.add("live_aliases", path=path, host=host, alias=alias, in_definition=alias in uses)
    os_type = _first(dom, "os[1]/type[1]") if dom is not None else None
    job = _first(root, "job[1]") if status else None
    out.add(
        "domains",
        path=path,
        host=host,
        kind="status" if status else "domain",
        name=_text(dom, "name[1]"),
        uuid=_text(dom, "uuid[1]"),
        id=parse_signed(_attr(dom, "id")),
        virt_type=_attr(dom, "type"),
        state=_attr(root, "state") if status else None,
        reason=_attr(root, "reason") if status else None,
        pid=parse_signed(_attr(root, "pid")) if status else None,
        arch=_attr(os_type, "arch"),
        machine=_attr(os_type, "machine"),
        emulator=_text(dom, "devices/emulator[1]"),
        has_qemu_caps=status and _has(root, "qemuCaps"),
        caps_count=len(flags),
        has_live_devices=status and _has(root, "devices"),
        live_alias_count=len(live),
        blockjobs_active=_attr(_first(root, "blockjobs[1]"), "active") if status else None,
        device_count=len(devices),
        file_size=size,
        job_async=_attr(job, "async"),
        job_phase=_attr(job, "phase"),
        # presence only: what the element records (socket paths) is never read
        dbus_daemon=_has(root, "dbusDaemon") if status else None,
        iothreads=parse_decimal(_text(dom, "iothreads[1]")),
        tpm_backend=_attr(_first(dom, "(devices/tpm/backend)[1]"), "type") if dom is not None else None,
    )


def host_of(path: str | os.PathLike[str]) -> str:
    """Default ``host``: the name of the directory that holds the file."""
    return Path(path).parent.name


def extract(
    paths: Iterable[str | os.PathLike[str]],
    host_from_parent: bool = True,
    *,
    host: str = "",
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
) -> dict[str, pl.DataFrame]:
    """Read ``paths`` (files only, used as given) into the five schema.md tables.

    ``host`` is the parent directory name when ``host_from_parent`` is true, else the fixed ``host``.
    Rows come out ordered by path (string order), then document order.
    """
    out = _Tables()
    for p in sorted({os.fspath(p) for p in paths}):
        h = host_of(p) if host_from_parent else host
        try:
            data = _read(p, max_file_size)
            root = _parse(data)
        except _FileError as err:
            out.add(
                "errors",
                path=p,
                host=h,
                kind=err.kind,
                message=err.message,
                line=err.line,
                column=err.column,
            )
            continue
        _extract_one(p, h, root, len(data), out)
    return out.frames()


def classify(path: str | os.PathLike[str], max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> str | None:
    """Error kind for one file, or None when it parses as libvirt XML."""
    try:
        _parse(_read(os.fspath(path), max_file_size))
    except _FileError as err:
        return err.kind
    return None


if __name__ == "__main__":  # pragma: no cover - manual inspection helper
    import sys

    pl.Config.set_tbl_cols(-1)
    pl.Config.set_tbl_width_chars(200)
    files: list[Path] = []
    for arg in sys.argv[1:]:
        p = Path(arg)
        files.extend(sorted(p.rglob("*.xml")) if p.is_dir() else [p])
    for name, frame in extract(files).items():
        print(name, frame.shape)
        print(frame)
