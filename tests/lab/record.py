"""Keep a lab run as the recording, and render docs/lab.md from the recordings.

    python tests/lab/record.py keep OUT       # OUT/results-*.json (+ status files) -> tests/lab/recorded/
    python tests/lab/record.py render         # tests/lab/recorded/ -> docs/lab.md (stdout with -)

Recordings are kept per mode and libvirt version: recorded/restart-9.0.0/, recorded/9.0.0-to-11.3.0/.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from scenarios import BY_NAME, GAPS, RECORDED_LIBVIRT, SCENARIOS, UPGRADE_CODES, UPGRADE_SCENARIOS  # noqa: E402
from verdict import disagreement, high_codes, upgrade_disagreement  # noqa: E402

RECORDED = HERE / "recorded"
DOC = HERE.parent.parent / "docs" / "lab.md"


def recording_dir(results: dict[str, Any]) -> str:
    if results["mode"] == "restart":
        return f"restart-{results['libvirt']}"
    return str(results["mode"])


def keep(out: Path) -> list[Path]:
    kept = []
    for res_path in sorted(out.glob("results-*.json")):
        results = json.loads(res_path.read_text())
        if "audit_error" in results:
            raise SystemExit(f"{res_path}: virtaudit did not run ({results['audit_error']}); not kept")
        skipped = {n: r["skipped"] for n, r in results["scenarios"].items() if "skipped" in r}
        if skipped:
            raise SystemExit(f"{res_path}: not every scenario ran ({skipped}); not kept")
        mode = res_path.stem.removeprefix("results-")
        dest = RECORDED / recording_dir(results)
        shutil.rmtree(dest, ignore_errors=True)
        (dest / "lab").mkdir(parents=True)
        for xml in sorted((out / f"status-{mode}" / "lab").glob("*.xml")):
            shutil.copy2(xml, dest / "lab" / xml.name)
        (dest / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        kept.append(dest)
    return kept


def reaudit(res_path: Path) -> dict[str, Any]:
    """The recording of ``res_path`` with virtaudit's findings of now: its status files (as they were when
    libvirt read them) audited again, for the libvirt and QEMU that read them. The rules change after a
    recording; the outcomes of libvirt do not."""
    from lab import run_virtaudit

    res: dict[str, Any] = json.loads(res_path.read_text())
    facts = res.get("target", res)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(res_path.parent / "lab", Path(tmp) / "lab")
        found = run_virtaudit(Path(tmp), facts["libvirt"], facts["qemu"])
    for name, r in res["scenarios"].items():
        if "skipped" not in r:
            r["findings"] = found.get("vlab-" + name, [])
    return res


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "—"


def codes_cell(findings: list[dict[str, Any]]) -> str:
    high = high_codes(findings)
    low = sorted({f"{f['code']} {f['severity']}" for f in findings if f["code"] not in high})
    parts = [f"**{c}**" for c in high] + low
    return ", ".join(parts) or "none"


def error_cell(r: dict[str, Any]) -> str:
    errs = []
    if r["before_error"]:
        errs.append(f"before: {r['before_error']}")
    if r["after_error"] and r["after_error"] != r["before_error"]:
        errs.append(f"after: {r['after_error']}")
    elif r["after_error"]:
        errs[-1] = f"before and after: {r['before_error']}"
    return cell("; ".join(errs))


def restart_table(results: dict[str, Any]) -> list[str]:
    lines = [
        f"libvirt {results['libvirt']}, QEMU {results['qemu']} (packages: "
        + ", ".join(f"{k} {v}" for k, v in sorted(results["packages"].items()))
        + f"); {len(results['scenarios'])} scenarios in {results['seconds']} s.",
        "",
        "| scenario | machine | status XML edit | hotplug bus before → after | before | after |"
        " libvirt's error | virtaudit (high+ in bold) | agrees | `--live` on the running QEMU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in SCENARIOS:
        r = results["scenarios"].get(s.name)
        if r is None:
            lines.append(f"| {s.name} | {s.template} | not run | | | | | | | |")
            continue
        if "skipped" in r:
            lines.append(f"| {s.name} | {s.template} | skipped: {cell(r['skipped'])} | | | | | | | |")
            continue
        opts = f" ({', '.join(s.options)})" if s.options else ""
        edit = ", ".join(r["edits"]) or "none"
        d = disagreement(s.code, r["before"], r["after"], r["findings"])
        gap = f" [{GAPS[s.gap].split(':')[0]}]" if s.gap and results["libvirt"] == RECORDED_LIBVIRT else ""
        agrees = "yes" if d is None else f"no: {d}{gap}"
        lines.append(
            f"| {s.name} | {s.template}{opts} | {cell(edit)} | {r['before_bus']} → {r['after_bus']} |"
            f" {r['before']} | {r['after']} | {error_cell(r)} | {codes_cell(r['findings'])} |"
            f" {cell(agrees)} | {cell(live_cell(r))} |"
        )
    return lines


def live_cell(r: dict[str, Any]) -> str:
    """The verdicts `virtaudit audit --live` gave while the guest's QEMU ran (recordings before it: n/a)."""
    if "live_findings" not in r:
        return "n/a"
    marks = []
    for f in r["live_findings"]:
        m = re.search(r"\[live: (\w+): ([^\]]*)\]$", f["message"])
        if m and f["code"].startswith("PCI"):
            marks.append(f"{f['code']} {m.group(1)} ({m.group(2)})")
    return "; ".join(marks) or "—"


def upgrade_table(results: dict[str, Any]) -> list[str]:
    st, tg = results["start"], results["target"]
    lines = [
        f"Guests started under libvirt {st['libvirt']} (QEMU {st['qemu']}), libvirtd stopped, libvirt"
        f" {tg['libvirt']} installed (QEMU {tg['qemu']}), libvirtd started; virtaudit judged the status files"
        f" as they were before the package change, for {tg['libvirt']}. {results['seconds']} s."
        " Any high finding counts here, but a lost guest needs a reconnect one (RST, or CAP001), with the"
        " rule code where tests/lab/scenarios.py pins one (UPGRADE_CODES).",
        "",
        "| guest | machine | hotplug bus before → after | before | after | libvirt's error |"
        " virtaudit (high+ in bold) | agrees |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in UPGRADE_SCENARIOS:
        r = results["scenarios"].get(s.name)
        if r is None or "skipped" in r:
            lines.append(
                f"| {s.name} | {s.template} | {cell((r or {}).get('skipped', 'not run'))} | | | | | |"
            )
            continue
        opts = f" ({', '.join(s.options)})" if s.options else ""
        d = upgrade_disagreement(
            r["before"], r["after"], r["findings"], UPGRADE_CODES.get((str(results["mode"]), s.name))
        )
        lines.append(
            f"| {s.name} | {s.template}{opts} | {r['before_bus']} → {r['after_bus']} | {r['before']} |"
            f" {r['after']} | {error_cell(r)} | {codes_cell(r['findings'])} |"
            f" {cell('yes' if d is None else 'no: ' + d)} |"
        )
    return lines


def render() -> str:
    out = [
        "# The libvirt lab",
        "",
        "<!-- Generated by `python tests/lab/record.py render` from tests/lab/recorded/; do not edit. -->",
        "",
        "Every row is a real libvirtd and QEMU (TCG, guests started paused, nothing booted) driven by",
        "`tests/lab/lab.py` from the table in `tests/lab/scenarios.py`. Each guest gets a virtio-blk",
        "disk hotplugged onto the given PCI bus before libvirtd is stopped; while it is stopped the guest's",
        "status XML (`/run/libvirt/qemu/NAME.xml`) is edited as an older libvirt or a management layer",
        "could have written it; libvirtd is started again and a second disk is hotplugged onto the bus the",
        "edit is about.",
        "virtaudit audits the edited status file with the running libvirt and QEMU versions as host facts",
        "(the virtaudit columns are the rules of when this page was rendered, run again on the recorded",
        "status files; each recording's results.json keeps the findings of when it was recorded).",
        "",
        "Outcomes: **ok** the hotplug worked; **refused** libvirt refuses it by design (a bus without",
        "hotplug, the same before and after: not a restart hazard); **fail** it failed; **lost** libvirt no",
        "longer runs the guest after the restart (shown shut off; whether its QEMU still runs is in the",
        "error column). virtaudit agrees when it reports a finding at high or above exactly for the",
        "scenarios that fail or lose the guest after the restart, with the scenario's rule code, and, where",
        "the hotplug already failed before the restart, says so in the message (`tests/lab/verdict.py`).",
        "Disagreements are the known model gaps of issue 17; their tests are strict xfails (the gaps",
        "below are all closed: no scenario is an xfail any more).",
        "",
        "Run it with `make lab` (root, Debian; installs libvirt and QEMU, a few minutes), the package",
        "changes with `make lab-upgrade`. Gaps:",
        "",
    ]
    out += [f"- {g}" for g in GAPS.values()]
    out.append("")

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in p.parent.name.removeprefix("restart-").split("."))

    restarts = sorted(RECORDED.glob("restart-*/results.json"), key=version)
    for p in restarts:
        res = reaudit(p)
        out += [f"## Daemon restart, libvirt {res['libvirt']}", ""]
        out += restart_table(res)
        out.append("")

    def order(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in p.parent.name.split("-to-")[0].split("."))

    ups = sorted(RECORDED.glob("*-to-*/results.json"), key=order)
    if ups:
        out += ["## Real upgrades and downgrades (`make lab-upgrade`)", ""]
        for p in ups:
            res = reaudit(p)
            out += [f"### {res['start']['libvirt']} → {res['target']['libvirt']}", ""]
            out += upgrade_table(res)
            out.append("")
    assert all(n in BY_NAME for p in restarts for n in json.loads(p.read_text())["scenarios"])
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "keep":
        for d in keep(Path(argv[1])):
            print(f"kept {d}", file=sys.stderr)
        return 0
    if argv and argv[0] == "render":
        text = render()
        if argv[1:] == ["-"]:
            sys.stdout.write(text)
        else:
            DOC.write_text(text)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
