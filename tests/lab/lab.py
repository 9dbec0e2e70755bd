"""The libvirt lab harness: real libvirtd + QEMU (TCG, paused guests), driven by tests/lab/scenarios.py.

    python tests/lab/lab.py run [--out DIR]                 # scenarios: before/after a daemon restart
    python tests/lab/lab.py upgrade --to 11.3.0 [--out DIR] # guests carried through a package change

Needs root on Debian (it installs the packages it needs with apt-get). It configures libvirt for a
container (QEMU as root, no cgroups, no namespaces, no security driver), starts virtlogd and libvirtd
itself and stops them at the end, creates only guests named vlab-*, and kills any QEMU of its own that
libvirt lost. Results: DIR/results-<mode>.json and the edited status files under DIR/status-<mode>/lab/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from scenarios import (  # noqa: E402
    PREFIX,
    SCENARIOS,
    UPGRADE_SCENARIOS,
    Edit,
    Scenario,
    UpgradeScenario,
)

PACKAGES = (
    "libvirt-daemon-system",
    "libvirt-clients",
    "qemu-system-x86",
    "qemu-system-ppc",
    "qemu-system-arm",
)
WORK = Path("/var/lib/vlab")
STATUS_DIR = Path("/run/libvirt/qemu")
QEMU_CONF = Path("/etc/libvirt/qemu.conf")
LIBVIRTD_PID = Path("/run/vlab-libvirtd.pid")
VIRTLOGD_PID = Path("/run/vlab-virtlogd.pid")
LOG = WORK / "libvirtd.log"
BACKPORTS_LIST = Path("/etc/apt/sources.list.d/vlab-bookworm-backports.list")
BOOKWORM_LIBVIRT = "9.0.0"

QEMU_CONF_TEXT = """\
# Written by virtaudit's lab (tests/lab/lab.py): libvirt in a container, QEMU as root, TCG.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
seccomp_sandbox = 0
"""

LIBVIRTD_CONF_TEXT = f"""\
log_outputs = "3:file:{LOG}"
"""

EMULATORS = {
    "i440fx": "/usr/bin/qemu-system-x86_64",
    "q35": "/usr/bin/qemu-system-x86_64",
    "pseries": "/usr/bin/qemu-system-ppc64",
    "virt": "/usr/bin/qemu-system-aarch64",
}

REFUSED = re.compile(r"requires hotplug capability")


class LabUnavailable(Exception):
    """The lab cannot run on this machine (one line saying why)."""


def sh(*cmd: str, check: bool = True, timeout: float = 120, env: dict[str, str] | None = None) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def virsh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ("virsh", "-c", "qemu:///system", *args), capture_output=True, text=True, timeout=timeout
    )


def log(msg: str) -> None:
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- setup


def preflight() -> None:
    if os.geteuid() != 0:
        raise LabUnavailable("the lab needs root (it installs and runs libvirtd and QEMU)")
    if not Path("/etc/debian_version").exists() or shutil.which("apt-get") is None:
        raise LabUnavailable("the lab needs Debian (apt-get) to install libvirt and QEMU")


def installed_version(pkg: str) -> str | None:
    r = subprocess.run(("dpkg-query", "-W", "-f=${Status} ${Version}", pkg), capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.startswith("install ok installed"):
        return None
    return r.stdout.split()[-1]


def apt_env() -> dict[str, str]:
    return {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def install_packages() -> None:
    missing = [p for p in PACKAGES if installed_version(p) is None]
    if not missing:
        return
    log(f"installing {' '.join(missing)}")
    try:
        sh("apt-get", "update", "-q", timeout=600, env=apt_env())
        sh(
            "apt-get", "install", "-y", "-q", "--no-install-recommends",
            "-o", "Dpkg::Options::=--force-confold", *missing,
            timeout=900, env=apt_env(),
        )  # fmt: skip
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        raise LabUnavailable(f"the lab's packages do not install here: {str(e).splitlines()[0][:200]}") from e


def configure() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "disks").mkdir(exist_ok=True)
    backup = QEMU_CONF.with_name("qemu.conf.vlab-orig")
    if QEMU_CONF.exists() and not backup.exists() and "virtaudit's lab" not in QEMU_CONF.read_text():
        shutil.copy2(QEMU_CONF, backup)
    QEMU_CONF.write_text(QEMU_CONF_TEXT)
    (WORK / "libvirtd.conf").write_text(LIBVIRTD_CONF_TEXT)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def foreign_daemon() -> str | None:
    """A libvirtd or virtqemud not started by the lab: the lab will not run beside it."""
    ours = read_pid(LIBVIRTD_PID)
    for name in ("libvirtd", "virtqemud"):
        r = subprocess.run(("pgrep", "-x", name), capture_output=True, text=True)
        for line in r.stdout.split():
            # a daemon that has exited but not been reaped yet (a container's init may be slow) is gone
            if int(line) != ours and pid_alive(int(line)):
                return f"{name} (pid {line})"
    return None


def foreign_guests() -> list[str]:
    """Guests libvirt knows here that the lab did not create: a libvirtd it starts could touch them."""
    names = {p.stem for d in (Path("/etc/libvirt/qemu"), STATUS_DIR) for p in d.glob("*.xml")}
    return sorted(n for n in names if not n.startswith(PREFIX))


def refuse_foreign() -> None:
    other = foreign_daemon()
    if other:
        raise LabUnavailable(f"a libvirt daemon the lab did not start is running: {other}")
    guests = foreign_guests()
    if guests:
        raise LabUnavailable(f"libvirt here has guests the lab did not create: {', '.join(guests[:5])}")


def start_daemons() -> None:
    refuse_foreign()
    if read_pid(VIRTLOGD_PID) is None or not pid_alive(read_pid(VIRTLOGD_PID) or 0):
        sh("virtlogd", "--daemon", "--pid-file", str(VIRTLOGD_PID))
    start_libvirtd()


def start_libvirtd() -> None:
    pid = read_pid(LIBVIRTD_PID)
    if pid is not None and pid_alive(pid):
        return
    sh("libvirtd", "--daemon", "--config", str(WORK / "libvirtd.conf"), "--pid-file", str(LIBVIRTD_PID))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if virsh("version").returncode == 0:
            return
        time.sleep(0.3)
    raise RuntimeError("libvirtd did not come up within 60 s")


def stop_pidfile_daemon(pidfile: Path, name: str) -> None:
    pid = read_pid(pidfile)
    if pid is None:
        return
    if pid_alive(pid):
        t = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        deadline = t + 30
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            log(f"{name} did not stop on SIGTERM; killing it")
            os.kill(pid, signal.SIGKILL)
        log(f"{name} (pid {pid}) stopped after {time.monotonic() - t:.1f} s")
    pidfile.unlink(missing_ok=True)


def stop_libvirtd() -> None:
    stop_pidfile_daemon(LIBVIRTD_PID, "libvirtd")


def stop_daemons() -> None:
    stop_libvirtd()
    stop_pidfile_daemon(VIRTLOGD_PID, "virtlogd")


def libvirt_version() -> str:
    m = re.search(r"(\d+\.\d+\.\d+)", sh("libvirtd", "--version"))
    assert m, "libvirtd --version"
    return m.group(1)


def qemu_version() -> str:
    m = re.search(r"version (\d+\.\d+\.\d+)", sh(EMULATORS["i440fx"], "--version"))
    assert m, "qemu --version"
    return m.group(1)


# ------------------------------------------------------------------------------------------- guests


def controller(index: int, model: str, alias: str | None, extra: str = "") -> str:
    a = f"<alias name='{alias}'/>" if alias else ""
    return f"<controller type='pci' index='{index}' model='{model}'>{extra}{a}</controller>"


def domain_xml(name: str, template: str, options: Sequence[str]) -> str:
    root_alias = "ua-vlabroot" if "root-ua" in options else None
    common = "<controller type='usb' model='none'/><memballoon model='none'/>"
    if template == "i440fx":
        os_type, mem = "<type arch='x86_64' machine='pc'>hvm</type>", 64
        ctrls = controller(0, "pci-root", root_alias) + controller(
            1, "pci-bridge", None, "<address type='pci' domain='0' bus='0' slot='0x05' function='0'/>"
        )
    elif template in ("q35", "virt"):
        if template == "q35":
            os_type, mem = "<type arch='x86_64' machine='q35'>hvm</type>", 64
        else:
            os_type, mem = "<type arch='aarch64' machine='virt'>hvm</type>", 64
        ctrls = controller(0, "pcie-root", root_alias) + "".join(
            controller(i, "pcie-root-port", None) for i in (1, 2, 3)
        )
    elif template == "pseries":
        os_type, mem = "<type arch='ppc64' machine='pseries'>hvm</type>", 256
        phb1_alias = "ua-vlabphb1" if "phb1-ua" in options else None
        ctrls = controller(
            0, "pci-root", root_alias, "<model name='spapr-pci-host-bridge'/><target index='0'/>"
        )
        ctrls += controller(
            1, "pci-root", phb1_alias, "<model name='spapr-pci-host-bridge'/><target index='1'/>"
        )
    else:
        raise ValueError(template)
    cpu = "<cpu mode='custom' match='exact'><model>cortex-a57</model></cpu>" if template == "virt" else ""
    # i440fx's root bus takes hotplugs through ACPI (PIIX4): without <acpi/> QEMU refuses them all
    features = "<features><acpi/></features>" if template in ("i440fx", "q35") else ""
    return (
        f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>{mem}</memory><vcpu>1</vcpu>"
        f"<os>{os_type}</os>{features}{cpu}<on_crash>destroy</on_crash><devices><emulator>{EMULATORS[template]}</emulator>"
        f"{ctrls}{common}</devices></domain>"
    )


def disk_xml(guest: str, target: str, bus: int, slot: int) -> str:
    img = WORK / "disks" / f"{guest}-{target}.img"
    img.parent.mkdir(parents=True, exist_ok=True)
    with img.open("wb") as f:
        f.truncate(1 << 20)
    return (
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        f"<source file='{img}'/><target dev='{target}' bus='virtio'/>"
        f"<address type='pci' domain='0x0000' bus='{bus:#04x}' slot='{slot:#04x}' function='0x0'/></disk>"
    )


def slot_for(template: str, bus: int, phase: str) -> int:
    """Root ports take one device, in slot 0; other buses get a slot per phase."""
    if template in ("q35", "virt") and bus > 0:
        return 0
    return 0x0A if phase == "before" else 0x0B


def status_path(guest: str) -> Path:
    return STATUS_DIR / f"{guest}.xml"


def qemu_pid(guest: str) -> int | None:
    try:
        root = etree.parse(str(status_path(guest))).getroot()
    except (OSError, etree.XMLSyntaxError):
        return None
    pid = root.get("pid")
    return int(pid) if pid else None


def is_our_qemu(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg.startswith(b"guest=" + PREFIX.encode()) for arg in cmd) and b"qemu" in cmd[0]


def our_qemu_pids() -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and is_our_qemu(int(p.name)) and pid_alive(int(p.name)):
            pids.append(int(p.name))
    return pids


def start_guest(guest: str, template: str, options: Sequence[str]) -> str | None:
    """Define and start the guest paused; None, or the reason it could not be started."""
    xml = WORK / f"{guest}.xml"
    xml.write_text(domain_xml(guest, template, options))
    r = virsh("define", str(xml))
    if r.returncode != 0:
        return r.stderr.strip()
    r = virsh("start", "--paused", guest, timeout=120)
    if r.returncode != 0:
        return r.stderr.strip()
    return None


def cleanup_guests(known_pids: Sequence[int] = ()) -> None:
    """Destroy and undefine every vlab-* guest; kill any QEMU of ours that libvirt lost."""
    if virsh("version").returncode == 0:
        names = virsh("list", "--all", "--name").stdout.split()

        def remove(name: str) -> None:
            virsh("destroy", name)  # about 2 s each (libvirt waits for QEMU to go): in parallel
            virsh("undefine", "--nvram", name)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(remove, [n for n in names if n.startswith(PREFIX)]))
    for pid in {*known_pids, *our_qemu_pids()}:
        if pid_alive(pid) and is_our_qemu(pid):
            log(f"killing QEMU {pid}, lost by libvirt")
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
    for f in STATUS_DIR.glob(f"{PREFIX}*"):
        f.unlink(missing_ok=True)
    for f in Path("/etc/libvirt/qemu").glob(f"{PREFIX}*.xml"):
        # only reached when libvirtd is down or lost the guest: its definition is ours by name
        f.unlink(missing_ok=True)
    shutil.rmtree(WORK / "disks", ignore_errors=True)
    for f in WORK.glob(f"{PREFIX}*.xml"):
        f.unlink()


# -------------------------------------------------------------------------------------------- edits


def apply_edits(path: Path, edits: Sequence[Edit]) -> None:
    if not edits:
        return
    tree = etree.parse(str(path))
    root = tree.getroot()
    for e in edits:
        if e.kind in ("drop-alias", "set-alias"):
            (ctrl,) = root.xpath(f"domain/devices/controller[@type='pci'][@index='{e.index}']")
            alias = ctrl.find("alias")
            if e.kind == "drop-alias":
                assert alias is not None, f"controller {e.index} has no alias to drop"
                ctrl.remove(alias)
            else:
                assert alias is not None and e.value
                alias.set("name", e.value)
        elif e.kind in ("add-flag", "add-unknown-flag"):
            caps = root.find("qemuCaps")
            assert caps is not None and e.value
            etree.SubElement(caps, "flag", name=e.value)
        elif e.kind == "drop-caps":
            caps = root.find("qemuCaps")
            assert caps is not None
            root.remove(caps)
        elif e.kind == "set-state":
            assert e.value
            state, reason = e.value.split("/")
            root.set("state", state)
            root.set("reason", reason)
        elif e.kind == "drop-live-alias":
            (dev,) = root.xpath(f"devices/device[@alias='{e.value}']")
            dev.getparent().remove(dev)
        else:
            raise ValueError(e.kind)
    tree.write(str(path), xml_declaration=False, encoding="utf-8")


# ------------------------------------------------------------------------------------------ outcome


@dataclass
class Result:
    outcome: str
    error: str


def log_offset() -> int:
    try:
        return LOG.stat().st_size
    except OSError:
        return 0


def log_lines_since(offset: int) -> list[str]:
    try:
        with LOG.open("rb") as f:
            f.seek(offset)
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return data.splitlines()


def guest_log_errors(guest: str, lines: Sequence[str]) -> str:
    """libvirtd's errors about the guest after the restart: lines naming it, and the error just before."""
    out: list[str] = []
    for i, line in enumerate(lines):
        if f"'{guest}'" in line or f" {guest}" in line or f"{guest}.xml" in line:
            # a status file that fails to load: the cause is the error logged just before
            cause = i > 0 and "Failed to load config" in line and ": error :" in lines[i - 1]
            if cause and lines[i - 1] not in out:
                out.append(lines[i - 1])
            if line not in out:
                out.append(line)
    texts = []
    for line in out:
        m = re.search(r": error : \w+:\d+ : (.*)", line) or re.search(r": (?:error|warning) : (.*)", line)
        texts.append(m.group(1) if m else line)
    return " | ".join(dict.fromkeys(texts))


def domstate(guest: str) -> str:
    r = virsh("domstate", guest)
    return r.stdout.strip() if r.returncode == 0 else f"unknown ({r.stderr.strip()})"


def hotplug(guest: str, template: str, bus: int, phase: str) -> Result:
    state = domstate(guest)
    if state not in ("paused", "running"):
        return Result("lost", f"domstate: {state}")
    target = "vdb" if phase == "before" else "vdc"
    xml = WORK / f"{guest}-{target}.xml"
    xml.write_text(disk_xml(guest, target, bus, slot_for(template, bus, phase)))
    r = virsh("attach-device", guest, str(xml), "--live", timeout=120)
    if r.returncode == 0:
        return Result("ok", "")
    err = " ".join(r.stderr.split())
    err = re.sub(r"^error: Failed to attach device from \S+\s*", "", err)
    err = re.sub(r"^error: ", "", err)
    return Result("refused" if REFUSED.search(err) else "fail", err)


def wait_reconnect(guests: Sequence[str]) -> None:
    """Reconnect runs in a thread per guest: wait until each is running/paused, or shut off for good."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = {g: domstate(g) for g in guests}
        if all(s in ("paused", "running", "shut off") or s.startswith("unknown") for s in states.values()):
            break
        time.sleep(0.5)
    time.sleep(1.0)


# ---------------------------------------------------------------------------------------- virtaudit


def virtaudit_bin() -> str:
    venv = REPO / ".venv" / "bin" / "virtaudit"
    return str(venv) if venv.exists() else "virtaudit"


def run_virtaudit(status_root: Path, libvirt: str, qemu: str, *extra: str) -> dict[str, list[dict[str, Any]]]:
    """Audit status_root/lab/*.xml for the running versions; findings per guest."""
    facts = status_root / "facts.csv"
    facts.write_text(f"host,libvirt_version,qemu_version\nlab,{libvirt},{qemu}\n")
    r = subprocess.run(
        (virtaudit_bin(), "audit", str(status_root / "lab"), "--host-facts", str(facts),
         "-f", "json", "-q", "--fail-on", "none", *extra),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if r.returncode not in (0, 1):
        raise RuntimeError(f"virtaudit audit failed ({r.returncode}): {r.stderr.strip()}")
    report = json.loads(r.stdout)
    per: dict[str, list[dict[str, Any]]] = {}
    for f in report["findings"]:
        per.setdefault(f["guest"], []).append(
            {k: f[k] for k in ("code", "severity", "message", "alias", "libvirt_version")}
        )
    return per


def audit_or_note(
    results: dict[str, Any], status_root: Path, lv: str, qv: str
) -> dict[str, list[dict[str, Any]]]:
    """The audit; if virtaudit cannot run, the results say so (and the lab test fails on it)."""
    try:
        return run_virtaudit(status_root, lv, qv)
    except (OSError, RuntimeError, ValueError) as e:
        results["audit_error"] = str(e)
        return {}


# -------------------------------------------------------------------------------------------- runs


@contextlib.contextmanager
def lab_session() -> Iterator[None]:
    preflight()
    install_packages()
    configure()
    start_daemons()
    try:
        cleanup_guests()
        yield
    finally:
        with contextlib.suppress(Exception):
            if read_pid(LIBVIRTD_PID) is None or not pid_alive(read_pid(LIBVIRTD_PID) or 0):
                start_libvirtd()
        cleanup_guests()  # what the run left behind if it failed half-way (by name and by QEMU cmdline)
        stop_daemons()


def run_scenarios(out: Path, scenarios: Sequence[Scenario] = SCENARIOS) -> dict[str, Any]:
    t0 = time.monotonic()
    status_root = out / "status-restart"
    shutil.rmtree(status_root, ignore_errors=True)
    (status_root / "lab").mkdir(parents=True)
    results: dict[str, Any] = {"mode": "restart", "scenarios": {}}
    with lab_session():
        lv, qv = libvirt_version(), qemu_version()
        results.update(libvirt=lv, qemu=qv, packages={p: installed_version(p) for p in PACKAGES})
        log(f"libvirt {lv}, QEMU {qv}: {len(scenarios)} scenarios")
        started: list[Scenario] = []
        for s in scenarios:
            if not Path(EMULATORS[s.template]).exists():
                results["scenarios"][s.name] = {"skipped": f"{EMULATORS[s.template]} is not installed"}
                continue
            err = start_guest(s.guest, s.template, s.options)
            if err:
                results["scenarios"][s.name] = {"skipped": f"guest did not start: {err}"}
                continue
            started.append(s)
        pids = {s.guest: qemu_pid(s.guest) for s in started}
        before = {s.name: hotplug(s.guest, s.template, s.before_bus, "before") for s in started}
        log("stopping libvirtd, editing the status files")
        stop_libvirtd()
        for s in started:
            apply_edits(status_path(s.guest), s.edits)
            shutil.copy2(status_path(s.guest), status_root / "lab" / f"{s.guest}.xml")
        offset = log_offset()
        start_libvirtd()
        log("libvirtd restarted, waiting for reconnects")
        wait_reconnect([s.guest for s in started])
        log("hotplugs after the restart")
        after = {s.name: hotplug(s.guest, s.template, s.after_bus, "after") for s in started}
        lines = log_lines_since(offset)
        log("auditing the edited status files")
        findings = audit_or_note(results, status_root, lv, qv)
        # While the guests' QEMUs still run: the same audit with their command lines as evidence.
        try:
            live = run_virtaudit(status_root, lv, qv, "--live")
        except (OSError, RuntimeError, ValueError) as e:
            results["live_error"] = str(e)
            live = {}
        for s in started:
            pid = pids[s.guest]
            a = after[s.name]
            if a.outcome == "lost":
                alive = pid is not None and pid_alive(pid)
                a.error = f"{a.error}; QEMU {'still running' if alive else 'gone'}"
                logged = guest_log_errors(s.guest, lines)
                if logged:
                    a.error = f"{logged}; {a.error}"
            results["scenarios"][s.name] = {
                "template": s.template,
                "options": list(s.options),
                "edits": [e.describe() for e in s.edits],
                "before_bus": s.before_bus,
                "after_bus": s.after_bus,
                "before": before[s.name].outcome,
                "before_error": before[s.name].error,
                "after": a.outcome,
                "after_error": a.error,
                "findings": findings.get(s.guest, []),
                "live_findings": live.get(s.guest, []),
            }
        cleanup_guests([p for p in pids.values() if p])
    results["seconds"] = round(time.monotonic() - t0, 1)
    return results


# ---------------------------------------------------------------------------------------- upgrades


def add_backports() -> None:
    """Add only bookworm-backports, from the mirror host the machine already uses."""
    host = "http://deb.debian.org/debian"
    for src in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        if src.is_file() and src != BACKPORTS_LIST and src.suffix in ("", ".list", ".sources"):
            # the URIs: / deb lines (not comments) that name the main archive (not -security)
            m = re.search(
                r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(https?://\S+/debian)/?(?:\s|$)",
                src.read_text(),
                re.MULTILINE,
            )
            if m:
                host = m.group(1)
                break
    BACKPORTS_LIST.write_text(f"deb {host} bookworm-backports main\n")


LIBVIRT_PKGS = ("libvirt-daemon-system", "libvirt-clients")


def libvirt_binary_packages() -> list[str]:
    """Every installed package built from the libvirt source: they move together."""
    out = sh("dpkg-query", "-W", "-f=${Package} ${Source} ${Status}\n")
    pkgs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "libvirt" and line.endswith("installed"):
            pkgs.append(parts[0])
    return pkgs


def switch_libvirt(version: str) -> None:
    """Install libvirt `version` (bookworm's or bookworm-backports'), keeping the lab's qemu.conf."""
    if libvirt_version() == version:
        return
    add_backports()
    sh("apt-get", "update", "-q", timeout=600, env=apt_env())
    policy = sh("apt-cache", "madison", "libvirt-daemon")
    full = next(
        (
            ln.split("|")[1].strip()
            for ln in policy.splitlines()
            if ln.split("|")[1].strip().startswith(version)
        ),
        None,
    )
    if full is None:
        raise LabUnavailable(f"libvirt {version} is not available from apt here")
    pkgs = sorted({*libvirt_binary_packages(), *LIBVIRT_PKGS, "libvirt-daemon"})
    # every package built from libvirt moves to the same version; those the version does not have
    # (11.x split the daemon into libvirt-daemon-common, -driver-*, -log, libvirt-common) are removed
    specs = []
    for p in pkgs:
        avail = [ln.split("|")[1].strip() for ln in sh("apt-cache", "madison", p).splitlines()]
        specs.append(f"{p}={full}" if full in avail else f"{p}-")
    log(f"installing libvirt {full}: {' '.join(specs)}")
    sh(
        "apt-get", "install", "-y", "-q", "--no-install-recommends", "--allow-downgrades",
        "-o", "Dpkg::Options::=--force-confold", *specs,
        timeout=900, env=apt_env(),
    )  # fmt: skip
    if any(spec.endswith("-") for spec in specs):
        reinstall_all(full)
    configure()


def reinstall_all(full: str) -> None:
    """Reinstall every libvirt package after a change that removed some.

    Seen on the downgrade 11.3.0 -> 9.0.0: 11.3.0 moved /usr/share/libvirt/cpu_map from libvirt0 to the
    new libvirt-common (which takes the files over); removing libvirt-common after libvirt0 9.0.0 is
    unpacked deletes them, dpkg no longer lists them for libvirt0, and every x86 guest then fails to
    define ("failed to parse xml document '/usr/share/libvirt/cpu_map/index.xml'").
    """
    pkgs = libvirt_binary_packages()
    log(f"reinstalling {' '.join(pkgs)} (files a removed package took with it)")
    sh(
        "apt-get", "install", "-y", "-q", "--reinstall", "--no-install-recommends",
        "-o", "Dpkg::Options::=--force-confold", *(f"{p}={full}" for p in pkgs),
        timeout=900, env=apt_env(),
    )  # fmt: skip


def run_upgrade(
    out: Path, start: str, target: str, scenarios: Sequence[UpgradeScenario] = UPGRADE_SCENARIOS
) -> dict[str, Any]:
    t0 = time.monotonic()
    mode = f"{start}-to-{target}"
    status_root = out / f"status-{mode}"
    shutil.rmtree(status_root, ignore_errors=True)
    (status_root / "lab").mkdir(parents=True)
    results: dict[str, Any] = {"mode": mode, "scenarios": {}}
    preflight()
    install_packages()
    configure()
    refuse_foreign()
    switch_libvirt(start)
    with lab_session():
        results["start"] = {"libvirt": libvirt_version(), "qemu": qemu_version()}
        started = []
        for s in scenarios:
            g = PREFIX + s.name
            err = start_guest(g, s.template, s.options)
            if err:
                results["scenarios"][s.name] = {"skipped": f"guest did not start: {err}"}
            else:
                started.append(s)
        pids = {PREFIX + s.name: qemu_pid(PREFIX + s.name) for s in started}
        before = {s.name: hotplug(PREFIX + s.name, s.template, s.before_bus, "before") for s in started}
        stop_libvirtd()
        for s in started:
            shutil.copy2(status_path(PREFIX + s.name), status_root / "lab" / f"{PREFIX + s.name}.xml")
        switch_libvirt(target)
        offset = log_offset()
        start_libvirtd()
        wait_reconnect([PREFIX + s.name for s in started])
        lv, qv = libvirt_version(), qemu_version()
        results["target"] = {"libvirt": lv, "qemu": qv}
        after = {s.name: hotplug(PREFIX + s.name, s.template, s.after_bus, "after") for s in started}
        lines = log_lines_since(offset)
        findings = audit_or_note(results, status_root, lv, qv)
        for s in started:
            g = PREFIX + s.name
            a = after[s.name]
            if a.outcome == "lost":
                pid = pids[g]
                alive = pid is not None and pid_alive(pid)
                logged = guest_log_errors(g, lines)
                a.error = (
                    f"{logged + '; ' if logged else ''}{a.error}; QEMU {'still running' if alive else 'gone'}"
                )
            results["scenarios"][s.name] = {
                "template": s.template,
                "options": list(s.options),
                "before_bus": s.before_bus,
                "after_bus": s.after_bus,
                "before": before[s.name].outcome,
                "before_error": before[s.name].error,
                "after": a.outcome,
                "after_error": a.error,
                "findings": findings.get(g, []),
            }
        cleanup_guests([p for p in pids.values() if p])
    results["seconds"] = round(time.monotonic() - t0, 1)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", type=Path, default=WORK / "out")
    r.add_argument("--only", nargs="*", default=None)
    u = sub.add_parser("upgrade")
    u.add_argument("--from", dest="start", required=True)
    u.add_argument("--to", dest="target", required=True)
    u.add_argument("--out", type=Path, default=WORK / "out")
    c = sub.add_parser("cleanup")
    c.add_argument("--out", type=Path, default=WORK / "out")
    w = sub.add_parser("switch", help="install libvirt VERSION (bookworm or bookworm-backports)")
    w.add_argument("version")
    w.add_argument("--out", type=Path, default=WORK / "out")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "skipped.txt").unlink(missing_ok=True)
    try:
        if args.cmd == "switch":
            preflight()
            refuse_foreign()
            switch_libvirt(args.version)
            if BACKPORTS_LIST.exists() and args.version == BOOKWORM_LIBVIRT:
                # back on bookworm's own libvirt: drop the suite the lab added
                BACKPORTS_LIST.unlink()
                sh("apt-get", "update", "-q", timeout=600, env=apt_env())
            log(f"libvirt {libvirt_version()} installed")
            return 0
        if args.cmd == "run":
            chosen = [s for s in SCENARIOS if args.only is None or s.name in args.only]
            res = run_scenarios(args.out, chosen)
            path = args.out / "results-restart.json"
        elif args.cmd == "upgrade":
            res = run_upgrade(args.out, args.start, args.target)
            path = args.out / f"results-{res['mode']}.json"
        else:
            with lab_session():
                pass
            return 0
    except LabUnavailable as e:
        print(f"lab skipped: {e}", file=sys.stderr)
        (args.out / "skipped.txt").write_text(f"{e}\n")
        return 77
    path.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    log(f"wrote {path} ({res['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
