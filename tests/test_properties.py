"""Property tests (issue 6): generated guests with random device sets and addresses.

* The scan tables equal those of the independent lxml reference extractor (tests/reference_extractor.py).
* The rules never raise, whatever the guests and the target release.
* A guest with no planted hazard gets no finding at high or above.

The generator writes what libvirt writes (status ``<domstatus>`` or plain ``<domain>``, PCI controllers
with their aliases, devices on their buses) and varies what a parser must not care about: quoting,
spacing, empty-element forms, comments, entities and character references, number spellings.
"""

from __future__ import annotations

import html
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import assert_frames_match, load_scan
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.usefixtures("scan")

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TABLES = ("domains", "devices", "caps", "live_aliases", "errors")
TARGETS = [None, "1.2.16", "3.9.0", "3.10.0", "4.2.0", "4.5.0", "6.0.0", "6.4.0", "8.0.0", "10.0.0", "12.5.0"]


def reference() -> Any:
    try:
        from reference_extractor import extract
    except ModuleNotFoundError:
        pytest.skip("tests/reference_extractor.py does not exist yet")
    return extract


def audit_function() -> Any:
    import virtaudit

    try:
        return virtaudit.audit
    except (AttributeError, ModuleNotFoundError) as exc:
        pytest.skip(f"virtaudit.audit is not importable yet ({exc})")


@contextmanager
def fleet_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="virtaudit-prop-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# the generator


@dataclass
class Style:
    """How one document spells things (none of it may change the tables)."""

    quote: str = "'"
    empty_form: bool = True  # <alias .../> or <alias ...></alias>
    comments: bool = False
    indent: str = "  "
    number: str = "hex"  # hex | HEX | dec | oct


@dataclass
class Device:
    element: str
    attrs: dict[str, str]
    alias: str | None
    address: dict[str, str] | None
    children: list[str] = field(default_factory=list)


def fmt_number(n: int, style: Style, width: int = 2) -> str:
    if style.number == "hex":
        return f"0x{n:0{width}x}"
    if style.number == "HEX":
        return f"0X{n:0{width}X}"
    if style.number == "oct":
        return f"0{n:o}" if n else "0"
    return str(n)


def attr_text(attrs: dict[str, str], style: Style) -> str:
    q = style.quote
    out = []
    for k, v in attrs.items():
        escaped = (
            html.escape(v, quote=True) if q == '"' else html.escape(v, quote=False).replace("'", "&apos;")
        )
        out.append(f" {k}={q}{escaped}{q}")
    return "".join(out)


def element(name: str, attrs: dict[str, str], style: Style, inner: str = "") -> str:
    a = attr_text(attrs, style)
    if not inner:
        return f"<{name}{a}/>" if style.empty_form else f"<{name}{a}></{name}>"
    return f"<{name}{a}>{inner}</{name}>"


def render_device(d: Device, style: Style, level: int) -> str:
    pad = "\n" + style.indent * (level + 1)
    parts = list(d.children)
    if d.alias is not None:
        parts.append(element("alias", {"name": d.alias}, style))
    if d.address is not None:
        parts.append(element("address", d.address, style))
    if style.comments:
        parts.insert(0, "<!-- device -->")
    inner = "".join(pad + p for p in parts) + ("\n" + style.indent * level if parts else "")
    return element(d.element, d.attrs, style, inner)


@dataclass
class Guest:
    kind: str  # status | domain
    name: str
    uuid: str
    machine: str
    arch: str
    devices: list[Device]
    caps: list[str]
    live: list[str]
    state: str = "running"
    reason: str = "booted"
    style: Style = field(default_factory=Style)
    # Well-formed content the tables do not read: in <metadata>, as unknown <domain> and <domstatus>
    # children, and inside devices.
    extra: list[str] = field(default_factory=list)

    def xml(self) -> str:
        s = self.style
        pad1, pad2 = "\n" + s.indent, "\n" + s.indent * 2
        name_text = html.escape(self.name, quote=False)
        extra = [*self.extra, "", "", ""]
        body = [
            f"<cpu>{extra[1]}</cpu>",
            f"<name>{name_text}</name>",
            f"<uuid>{self.uuid}</uuid>",
            "<metadata><app:x xmlns:app='http://example.org/x'>&lt;not a device&gt;<devices/></app:x>"
            f"{extra[0]}</metadata>",
            f"<os>{element('type', {'arch': self.arch, 'machine': self.machine}, s, 'hvm')}</os>",
        ]
        devs = "".join(pad2 + render_device(d, s, 2) for d in self.devices)
        emulator = f"{pad2}<emulator>/usr/bin/qemu-system-{self.arch}</emulator>"
        body.append(f"<devices>{emulator}{devs}{pad1}</devices>")
        domain_attrs = {"type": "kvm"}
        if self.kind == "status":
            domain_attrs["id"] = "7"
        domain = element("domain", domain_attrs, s, "".join(pad1 + b for b in body) + "\n")
        if self.kind == "domain":
            return "<?xml version='1.0'?>\n" + domain + "\n"
        caps = "".join(element("flag", {"name": c}, s) for c in self.caps)
        live = "".join(element("device", {"alias": a}, s) for a in self.live)
        head = element("domstatus", {"state": self.state, "reason": self.reason, "pid": "4242"}, s, "\n")
        head = head[: head.rindex("</domstatus>")] if not head.endswith("/>") else head[:-2] + ">"
        return (
            f"{head}\n"
            f"<monitor path='/run/mon.sock' type='unix'/>\n<job>{extra[2]}</job>\n"
            f"<qemuCaps>{caps}</qemuCaps>\n"
            f"<devices>{live}</devices>\n"
            f"{domain}\n</domstatus>\n"
        )


MACHINES = {"q35": ("x86_64", "pc-q35-8.2"), "i440fx": ("x86_64", "pc-i440fx-8.2")}
CAPS = [
    "kvm",
    "device",
    "netdev",
    "vnc",
    "pci-multifunction",
    "virtio-scsi-pci",
    "usb-redir",
    "secret",
]
# (element, attrs, alias prefix, extra children) of PCI devices a guest may have.
PCI_DEVICES = [
    ("disk", {"type": "file", "device": "disk"}, "virtio-disk", ["<target dev='vda' bus='virtio'/>"]),
    ("interface", {"type": "network"}, "net", ["<model type='virtio'/>", "<actual type='network'/>"]),
    ("video", {}, "video", ["<model type='vga' vram='16384' heads='1' primary='yes'/>"]),
    ("rng", {"model": "virtio"}, "rng", ["<backend model='random'>/dev/urandom</backend>"]),
    ("memballoon", {"model": "virtio"}, "balloon", []),
    ("controller", {"type": "scsi", "index": "0", "model": "virtio-scsi"}, "scsi", []),
    ("controller", {"type": "virtio-serial", "index": "0"}, "virtio-serial", []),
    ("sound", {"model": "ich9"}, "sound", []),
    ("watchdog", {"model": "i6300esb", "action": "reset"}, "watchdog", []),
]


NAMES = ["a", "b", "x:y", "devices", "device", "alias", "address", "domain", "metadata", "qemuCaps", "_z.9-"]
# Attribute values and text may hold anything XML allows raw ('>' and '/' included) or as references.
VALUE_CHARS = st.sampled_from(
    ["a", " ", ">", "/", "/>", "'", '"', "&", "<", "é", "]]>", "--", "\t", "\n", "?>"]
)


def escape_text(raw: str) -> str:
    return raw.replace("&", "&amp;").replace("<", "&lt;").replace("]]>", "]]&gt;")


def escape_attr(raw: str, quote: str) -> str:
    out = raw.replace("&", "&amp;").replace("<", "&lt;")
    return out.replace(quote, "&apos;" if quote == "'" else "&quot;")


@st.composite
def xml_fragments(draw: st.DrawFn, depth: int = 0) -> str:
    """A well-formed XML fragment: elements with attributes, text, references, comments, CDATA, PIs."""
    parts = []
    for _ in range(draw(st.integers(0, 3 if depth < 4 else 0))):
        kind = draw(st.sampled_from(["element", "element", "text", "comment", "cdata", "pi", "ref"]))
        if kind == "element":
            name = draw(st.sampled_from(NAMES))
            quote = draw(st.sampled_from(["'", '"']))
            keys = draw(
                st.lists(st.sampled_from(["k", "type", "name", "alias", "bus"]), unique=True, max_size=3)
            )
            attrs = "".join(
                f" {k}={quote}{escape_attr(''.join(draw(st.lists(VALUE_CHARS, max_size=4))), quote)}{quote}"
                for k in keys
            )
            if name == "x:y":
                attrs += " xmlns:x='urn:x'"
            inner = draw(xml_fragments(depth + 1))
            parts.append(
                f"<{name}{attrs}>{inner}</{name}>" if inner or draw(st.booleans()) else f"<{name}{attrs}/>"
            )
        elif kind == "text":
            parts.append(escape_text("".join(draw(st.lists(VALUE_CHARS, max_size=5)))))
        elif kind == "comment":
            parts.append(
                "<!--"
                + "".join(draw(st.lists(st.sampled_from(["a", ">", "<", "/", "&", " "]), max_size=5)))
                + "-->"
            )
        elif kind == "cdata":
            parts.append(
                "<![CDATA["
                + "".join(draw(st.lists(st.sampled_from(["a", ">", "<", "/>", "&"]), max_size=5)))
                + "]]>"
            )
        elif kind == "pi":
            parts.append(
                "<?target "
                + "".join(draw(st.lists(st.sampled_from(["a", ">", "<", "/"]), max_size=4)))
                + "?>"
            )
        else:
            parts.append(
                draw(st.sampled_from(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#65;", "&#x263A;"]))
            )
    return "".join(parts)


@st.composite
def styles(draw: st.DrawFn) -> Style:
    return Style(
        quote=draw(st.sampled_from(["'", '"'])),
        empty_form=draw(st.booleans()),
        comments=draw(st.booleans()),
        indent=draw(st.sampled_from(["  ", "\t", "", "    "])),
        number=draw(st.sampled_from(["hex", "HEX", "dec", "oct"])),
    )


@st.composite
def healthy_guests(draw: st.DrawFn, kind: str | None = None) -> Guest:
    """A guest as libvirt writes it, with nothing any rule should call high or critical."""
    style = draw(styles())
    family = draw(st.sampled_from(sorted(MACHINES)))
    arch, machine = MACHINES[family]
    n_buses = draw(st.integers(0, 6))
    devices: list[Device] = []
    root_alias = "pcie.0" if family == "q35" else "pci.0"
    root_model = "pcie-root" if family == "q35" else "pci-root"
    devices.append(Device("controller", {"type": "pci", "index": "0", "model": root_model}, root_alias, None))
    slots: dict[int, set[int]] = {0: {0, 1}}
    for index in range(1, n_buses + 1):
        slot = 2 + (index - 1) // 8
        function = (index - 1) % 8
        model = "pcie-root-port" if family == "q35" else "pci-bridge"
        children = [f"<model name='{model}'/>"]
        if family == "q35":
            children.append(f"<target chassis='{index}' port='0x{0x10 + index:x}'/>")
        else:
            children.append(f"<target chassisNr='{index}'/>")
        address = {"type": "pci", "domain": fmt_number(0, style, 4), "bus": fmt_number(0, style)}
        address["slot"] = fmt_number(slot if family == "q35" else 0x10 + index, style)
        address["function"] = fmt_number(function if family == "q35" else 0, style)
        if family == "q35" and function == 0:
            address["multifunction"] = "on"
        devices.append(
            Device(
                "controller",
                {"type": "pci", "index": str(index), "model": model},
                f"pci.{index}",
                address,
                children,
            )
        )
        slots.setdefault(0, set()).add(slot if family == "q35" else 0x10 + index)
    counters: dict[str, int] = {}
    picks = draw(st.lists(st.sampled_from(range(len(PCI_DEVICES))), max_size=12))
    for pick in picks:
        el, attrs, prefix, children = PCI_DEVICES[pick]
        if el == "controller" and any(d.attrs.get("type") == attrs["type"] for d in devices):
            continue  # one of each such controller
        n = counters.get(prefix, 0)
        counters[prefix] = n + 1
        alias = f"{prefix}{n}" if el != "controller" else f"{prefix}0"
        bus = draw(st.integers(0, n_buses))
        used = slots.setdefault(bus, set())
        if bus == 0:
            free = [s for s in range(2, 0x1F) if s not in used]
        elif family == "q35":
            free = [] if used else [0]  # a root port takes one device, in slot 0
        else:
            free = [s for s in range(1, 32) if s not in used]
        if not free:
            continue
        slot = free[0]
        used.add(slot)
        address = {
            "type": "pci",
            "domain": fmt_number(0, style, 4),
            "bus": fmt_number(bus, style),
            "slot": fmt_number(slot, style),
            "function": fmt_number(0, style, 1),
        }
        devices.append(Device(el, dict(attrs), alias, address, list(children)))
    # Non-PCI devices.
    devices.append(Device("input", {"type": "keyboard", "bus": "ps2"}, "input0", None))
    if draw(st.booleans()):
        devices.append(Device("serial", {"type": "pty"}, "serial0", None, ["<target port='0'/>"]))
    order = draw(st.permutations(range(1, len(devices))))
    devices = [devices[0], *(devices[i] for i in order)]
    name = draw(st.text(alphabet="abcdefghij-_.&<>é0123456789", min_size=1, max_size=20))
    kind = kind or draw(st.sampled_from(["status", "domain"]))
    uuid = f"{draw(st.integers(0, 2**32 - 1)):08x}-1111-4222-8333-444455556666"
    builtin = {"pcie.0", "pci.0", "input0", "serial0"}
    live = [d.alias for d in devices if d.alias and d.alias not in builtin]
    for d in devices:
        if draw(st.integers(0, 5)) == 0:
            d.children.append(f"<driver name='qemu'>{draw(xml_fragments(2))}</driver>")
    extra = draw(st.lists(xml_fragments(), max_size=3))
    return Guest(
        kind,
        name,
        uuid,
        machine,
        arch,
        devices,
        draw(st.lists(st.sampled_from(CAPS), min_size=1, unique=True)),
        live,
        style=style,
        extra=extra,
    )


@st.composite
def any_guests(draw: st.DrawFn) -> Guest:
    """Healthy guests with random damage: hazards of every kind the rules look for."""
    g = draw(healthy_guests())
    for _ in range(draw(st.integers(0, 4))):
        what = draw(st.sampled_from(["alias", "bus", "caps", "state", "drop", "ua", "dup", "live", "model"]))
        if what == "alias" and g.devices:
            d = draw(st.sampled_from(g.devices))
            d.alias = draw(
                st.sampled_from([None, "", "pci", "pcie.0", "ua-x", "ua-", "ua-" + "y" * 40, "pci.9"])
            )
        elif what == "bus":
            with_addr = [d for d in g.devices if d.address and d.address.get("type") == "pci"]
            if with_addr:
                d = draw(st.sampled_from(with_addr))
                d.address["bus"] = draw(st.sampled_from(["0x0d", "0xff", "0x100", "junk", "", "-1", "07"]))
        elif what == "caps":
            g.caps = draw(st.lists(st.sampled_from([*CAPS, "pci-multibus"]), max_size=3))
        elif what == "state":
            g.state, g.reason = draw(
                st.sampled_from(
                    [("shutoff", "destroyed"), ("paused", "starting up"), ("paused", "user"), ("x", "")]
                )
            )
        elif what == "drop" and len(g.devices) > 1:
            g.devices.pop(draw(st.integers(0, len(g.devices) - 1)))
        elif what == "ua" and g.devices:
            d = draw(st.sampled_from(g.devices))
            d.alias = "ua-" + draw(st.sampled_from(["disk", "root", "a1b2", "x.y"]))
        elif what == "dup" and g.devices:
            g.devices.append(draw(st.sampled_from(g.devices)))
        elif what == "live":
            g.live = draw(
                st.lists(st.sampled_from(["net0", "zpci1", "ua-hotplug", "virtio-disk9"]), max_size=4)
            )
        elif what == "model" and g.devices:
            d = g.devices[0]
            d.attrs["model"] = draw(st.sampled_from(["pci-root", "pcie-root", "pci-bridge", "weird"]))
    if draw(st.booleans()):
        g.machine = draw(st.sampled_from(["pseries-7.2", "virt-8.2", "s390-ccw-virtio-8.2", "pc", "q35", ""]))
    return g


def write_guests(directory: Path, guests: list[Guest]) -> list[Path]:
    paths = []
    for i, g in enumerate(guests):
        host = directory / f"hv-{i % 3}"
        host.mkdir(parents=True, exist_ok=True)
        p = host / f"guest-{i:03d}.xml"
        p.write_text(g.xml(), encoding="utf-8")
        paths.append(p)
    return paths


# --------------------------------------------------------------------------------------------------
# properties


@SETTINGS
@given(guests=st.lists(st.one_of(healthy_guests(), any_guests()), min_size=1, max_size=6))
def test_scan_tables_equal_the_reference(guests: list[Guest]) -> None:
    extract = reference()
    scan = load_scan()
    with fleet_dir() as d:
        paths = write_guests(d, guests)
        got = scan(d)
        ref = extract(paths)
        assert got.files == len(paths)
        for table in TABLES:
            assert_frames_match(getattr(got, table), ref[table], table, exclude=("message", "line", "column"))


NUMBER_SPELLINGS = [
    "0x1",
    "0X1",
    "1",
    "01",
    "0",
    "00",
    "0x",
    "1a",
    "0x1g",
    "4294967295",
    "4294967296",
    "+1",
    " 1",
    "1 ",
    "-0",
    "-1",
    "",
]


@SETTINGS
@given(
    bus=st.sampled_from(NUMBER_SPELLINGS),
    slot=st.sampled_from(NUMBER_SPELLINGS),
    index=st.sampled_from(NUMBER_SPELLINGS),
)
def test_number_spellings_equal_the_reference(bus: str, slot: str, index: str) -> None:
    """Addresses and indexes spelled every way strtoul (base 0) sees them: as libvirt reads them."""
    extract = reference()
    scan = load_scan()
    doc = (
        "<domain type='kvm'><name>n</name><devices>"
        f"<controller type='pci' index='{index}' model='pci-bridge'><target chassisNr='{index}'/>"
        f"<address type='pci' domain='0x0000' bus='{bus}' slot='{slot}' function='0x0'/></controller>"
        f"<memory model='dimm'><address type='dimm' slot='{slot}'/></memory>"
        "</devices></domain>"
    )
    with fleet_dir() as d:
        (d / "h").mkdir()
        (d / "h" / "g.xml").write_text(doc)
        got = scan(d)
        ref = extract([d / "h" / "g.xml"])
        assert_frames_match(got.devices, ref["devices"], "devices")


@SETTINGS
@given(
    guests=st.lists(st.one_of(healthy_guests(), any_guests()), min_size=1, max_size=8),
    target=st.sampled_from(TARGETS),
)
def test_the_rules_never_raise(guests: list[Guest], target: str | None) -> None:
    audit = audit_function()
    scan = load_scan()
    with fleet_dir() as d:
        write_guests(d, guests)
        result = scan(d)
        findings = audit(result, target_libvirt=target)
    assert isinstance(findings, pl.DataFrame)
    assert set(findings["severity"]) <= {"critical", "high", "medium", "low", "info"}
    assert set(findings["path"]) <= set(result.domains["path"])


def healthy_caps(caps: list[str], target: str | None) -> list[str]:
    """The flags of a guest started by the target release itself with a QEMU that has secrets and
    blockdev: ``secret`` always (a master key), ``blockdev`` where the target knows the name (4.7.0 on;
    CAP002 looks for it from 8.6.0), so that no CAP rule has anything to say."""
    from virtaudit.versions import libvirt_key

    extra = ["secret"]
    if libvirt_key(target) >= libvirt_key("4.7.0"):
        extra.append("blockdev")
    return [*caps, *(flag for flag in extra if flag not in caps)]


@SETTINGS
@given(guests=st.lists(healthy_guests(), min_size=1, max_size=6), target=st.sampled_from(TARGETS))
def test_a_guest_without_planted_hazard_gets_nothing_high(guests: list[Guest], target: str | None) -> None:
    audit = audit_function()
    scan = load_scan()
    assume(all(g.name.strip() for g in guests))
    for g in guests:
        g.caps = healthy_caps(g.caps, target)
    with fleet_dir() as d:
        write_guests(d, guests)
        result = scan(d)
        assert result.errors.height == 0, result.errors
        findings = audit(result, target_libvirt=target)
    bad = findings.filter(pl.col("severity").is_in(["critical", "high"]))
    assert bad.is_empty(), bad.select("path", "code", "severity", "message").to_dicts()
