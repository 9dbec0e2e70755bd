"""One guest's PCI topology, for ``virtaudit show``: built from the scan tables only.

The tree: the root bus, the controllers plugged into it (root ports, bridges, pSeries host bridges) and the
devices on each, by PCI address; each PCI controller with the name QEMU has for its bus now and the one
libvirt would use for a hotplug after a restart (:func:`virtaudit.buses`). Devices whose address names a
bus with no controller hang under a flagged placeholder; devices not on PCI are grouped by address type.
No raw XML is read here, so nothing the tables leave out (passwords, secrets) can appear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl
    from rich.console import RenderableType

    from virtaudit.scanning import Scan

__all__ = ["Node", "guest_tree", "render"]


@dataclass
class Node:
    """A bus, controller or device in the tree."""

    label: str
    kind: str = "device"  # guest | bus | controller | device | group | missing
    alias: str | None = None
    address: str | None = None
    qemu_bus: str | None = None
    restart_bus: str | None = None
    agrees: bool | None = None
    codes: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def walk(self) -> list[Node]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def _address(row: dict[str, Any]) -> str | None:
    if row.get("address_type") != "pci" or row.get("pci_bus") is None:
        return None
    dom = row.get("pci_domain") or 0
    prefix = f"{dom:04x}:" if dom else ""
    return f"{prefix}{row['pci_bus']:02x}:{(row.get('pci_slot') or 0):02x}.{row.get('pci_function') or 0}"


def _describe(row: dict[str, Any]) -> str:
    element = row["element"]
    kind = row.get("model_name") or row.get("model")
    if element == "controller":
        text = (
            f"{row.get('type') or '?'} controller {row.get('index') if row.get('index') is not None else '?'}"
        )
        return f"{text} ({kind})" if kind else text
    detail = ", ".join(str(v) for v in (row.get("type"), row.get("model")) if v)
    return f"{element} ({detail})" if detail else element


def _bus_names(sub: Scan, target_libvirt: str | None, host_facts: Any) -> dict[int, dict[str, Any]]:
    """index -> {qemu_bus, restart_bus, agrees} for the PCI controllers of a one-document scan."""

    names: dict[int, dict[str, Any]] = {}
    if sub.domains.height == 0 or sub.domains["kind"][0] != "status":
        return names  # bus names after a restart concern running guests (status XML) only
    try:
        from virtaudit.busnames import buses

        frame = buses(sub, target_libvirt=target_libvirt, host_facts=host_facts)
        for row in frame.iter_rows(named=True):
            if row["index"] is not None:
                names[int(row["index"])] = row
    except (ImportError, AttributeError):  # pragma: no cover - rules not installed
        pass
    return names


def _subscan(scan: Scan, path: str) -> Scan:
    import polars as pl

    from virtaudit.scanning import Scan

    return Scan.from_tables({name: df.filter(pl.col("path") == path) for name, df in scan.tables().items()})


def guest_tree(
    scan: Scan,
    path: str,
    *,
    target_libvirt: str | None = None,
    host_facts: Any = None,
    findings: pl.DataFrame | None = None,
) -> Node:
    """The topology of the document at ``path`` in ``scan``."""
    sub = _subscan(scan, path)
    if sub.domains.height == 0:
        raise KeyError(f"no parsed document at {path!r}")
    doc = sub.domains.row(0, named=True)
    names = _bus_names(sub, target_libvirt, host_facts)
    codes_by_alias = _codes_by_alias(findings, path)
    nodes, controllers = _device_nodes(sub.devices.sort("ordinal").to_dicts(), names, codes_by_alias)

    guest = Node(label=f"{doc['name'] or path}", kind="guest")
    roots, missing, off_pci = _place(nodes, controllers)
    guest.children.extend(roots)
    guest.children.extend(missing[k] for k in sorted(missing))
    guest.children.extend(off_pci[k] for k in sorted(off_pci))
    return guest


def _codes_by_alias(findings: pl.DataFrame | None, path: str) -> dict[str, list[str]]:
    """The codes of the findings on the document at ``path``, per device alias, each once, in order."""
    import polars as pl

    codes_by_alias: dict[str, list[str]] = {}
    if findings is not None and findings.height:
        for alias, code in findings.filter(pl.col("path") == path).select("alias", "code").iter_rows():
            if alias:
                codes_by_alias.setdefault(alias, [])
                if code not in codes_by_alias[alias]:
                    codes_by_alias[alias].append(code)
    return codes_by_alias


def _device_nodes(
    rows: list[dict[str, Any]], names: dict[int, dict[str, Any]], codes_by_alias: dict[str, list[str]]
) -> tuple[list[tuple[dict[str, Any], Node]], dict[int, Node]]:
    """A node per device row (with its findings' codes; a PCI controller with its bus names), and the
    PCI controllers by index (the first of each index)."""
    controllers: dict[int, Node] = {}
    nodes: list[tuple[dict[str, Any], Node]] = []
    for row in rows:
        is_pci_ctrl = row["element"] == "controller" and row.get("type") == "pci"
        node = Node(
            label=_describe(row),
            kind="controller" if is_pci_ctrl else "device",
            alias=row.get("alias"),
            address=_address(row),
            codes=list(codes_by_alias.get(row.get("alias") or "", [])),
        )
        if is_pci_ctrl and row.get("index") is not None:
            bus = names.get(int(row["index"]), {})
            node.qemu_bus, node.restart_bus, node.agrees = (
                bus.get("qemu_bus"),
                bus.get("restart_bus"),
                bus.get("agrees"),
            )
            controllers.setdefault(int(row["index"]), node)
        nodes.append((row, node))
    return nodes, controllers


def _place(
    nodes: list[tuple[dict[str, Any], Node]], controllers: dict[int, Node]
) -> tuple[list[Node], dict[int, Node], dict[str, Node]]:
    """Hang every device under the controller of its PCI bus: the roots (buses without a parent), the
    placeholders of buses no controller has, and the groups of devices not on PCI."""
    missing: dict[int, Node] = {}
    off_pci: dict[str, Node] = {}

    def sort_key(pair: tuple[dict[str, Any], Node]) -> tuple[int, int, int, int]:
        row = pair[0]
        return (
            row.get("pci_domain") or 0,
            row.get("pci_bus") or 0,
            row.get("pci_slot") or 0,
            row.get("pci_function") or 0,
        )

    roots: list[Node] = []
    for row, node in sorted(nodes, key=sort_key):
        index = row.get("index")
        if (
            node.kind == "controller"
            and index is not None
            and controllers.get(int(index)) is node
            and (row.get("address_type") != "pci")
        ):
            roots.append(node)  # the root bus (or a controller without an address)
            continue
        if node.address is not None:
            parent = controllers.get(int(row["pci_bus"]))
            if parent is None:
                number = int(row["pci_bus"])
                if number not in missing:
                    missing[number] = Node(
                        label=f"bus {number} (0x{number:02x}): no PCI controller has this index",
                        kind="missing",
                    )
                parent = missing[number]
            if parent is node:  # a controller addressed onto its own bus: keep it visible
                roots.append(node)
                continue
            parent.children.append(node)
        else:
            group = row.get("address_type") or "no address"
            if group not in off_pci:
                label = "PCI address without a bus number" if group == "pci" else f"not on PCI: {group}"
                off_pci[group] = Node(label=label, kind="group")
            off_pci[group].children.append(node)
    return roots, missing, off_pci


def _node_text(node: Node) -> Any:
    from rich.text import Text

    text = Text()
    if node.address:
        text.append(node.address + " ", style="cyan")
    style = {"controller": "bold", "missing": "bold red", "group": "dim", "guest": "bold"}.get(node.kind, "")
    text.append(node.label, style=style)
    if node.alias:
        text.append("  alias ", style="dim")
        text.append(node.alias, style="magenta" if node.alias.startswith("ua-") else "")
    if node.kind == "controller" and (node.qemu_bus or node.restart_bus or node.agrees is not None):
        text.append("  QEMU bus ", style="dim")
        text.append(node.qemu_bus or "unknown (no alias recorded)", style="" if node.qemu_bus else "red")
        text.append(" · after restart ", style="dim")
        text.append(node.restart_bus or "none (hotplug refused)", style="" if node.restart_bus else "red")
        if node.agrees is True:
            text.append("  ✓", style="green")
        elif node.agrees is False:
            text.append("  ✗ differs", style="bold red")
    if node.codes:
        text.append("  ⚠ " + ", ".join(node.codes), style="bold yellow")
    return text


def render(
    scan: Scan,
    path: str,
    *,
    target_libvirt: str | None = None,
    host_facts: Any = None,
    findings: pl.DataFrame | None = None,
) -> RenderableType:
    """The guest's tree and findings as a rich renderable."""
    import polars as pl
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text
    from rich.tree import Tree

    from virtaudit.schema import SEVERITY_STYLES

    root = guest_tree(scan, path, target_libvirt=target_libvirt, host_facts=host_facts, findings=findings)
    doc = scan.domains.filter(pl.col("path") == path).row(0, named=True)
    head = Text()
    head.append(f"{doc['name'] or '?'}", style="bold")
    head.append(f"  {doc['uuid'] or ''}", style="dim")
    head.append(
        f"\nhost {doc['host']} · {doc['arch'] or '?'} {doc['machine'] or '?'} · {doc['kind']}"
        + (
            f" · state {doc['state']}" + (f" ({doc['reason']})" if doc.get("reason") else "")
            if doc["state"]
            else ""
        )
        + f" · {path}"
        + (
            f"\nbus names judged for libvirt {target_libvirt or 'newest'}"
            if doc["kind"] == "status"
            else "\ndomain XML: bus names after a restart apply to running guests (status XML) only"
        ),
        style="",
    )
    tree = Tree(head, guide_style="dim")

    def add(parent: Tree, node: Node) -> None:
        branch = parent.add(_node_text(node))
        for child in node.children:
            add(branch, child)

    for child in root.children:
        add(tree, child)
    parts: list[RenderableType] = [tree]
    mine = findings.filter(pl.col("path") == path) if findings is not None else None
    if mine is not None and mine.height:
        table = Table(title="Findings", title_justify="left", expand=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("code", no_wrap=True)
        table.add_column("message", ratio=1)
        for row in mine.iter_rows(named=True):
            table.add_row(
                Text(row["severity"], style=SEVERITY_STYLES.get(row["severity"], "")),
                Text(row["code"]),
                Text(row["message"]),
            )
        parts.append(table)
    elif mine is not None:
        parts.append(Text("No findings.", style="green"))
    return Group(*parts)
