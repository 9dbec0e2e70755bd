"""CAP rules: what the QEMU capability flags recorded in a status file (``<qemuCaps>``) say about the
restart: names the target release does not know, and the flags whose absence shows a guest started the old
way (legacy block code, no master key, JSON ``-device`` without hot-unplug support).

The flags a status file records are those of the libvirt that started the guest, plus what later releases
added and set (``libvirt-restart-hazards.md`` §6.4, qemucaps-flags.csv's README); the per-release tables
are :mod:`virtaudit.capsflags`.
"""

from __future__ import annotations

from functools import cache
from typing import Final

import polars as pl

from virtaudit.capsflags import known, started_after, table_at
from virtaudit.capsflags_data import COVERED, SPANS
from virtaudit.rules._base import Context, Parts, Shape, finding_columns, fmt, rule
from virtaudit.schema import ALL_CAPS_FLAGS
from virtaudit.versions import libvirt_key

_V7_8: Final = libvirt_key("7.8.0")
_V8_6: Final = libvirt_key("8.6.0")
_V9_0: Final = libvirt_key("9.0.0")
_QEMU_6_2: Final = (6_002_000, 6_003_000)  # QEMU 6.2.x in libvirt's version encoding
_NEWEST_COVERED: Final = len(COVERED) - 1
_SEVERITY: Final = {"no": "critical", "maybe": "medium", "unknown": "info"}


@cache
def _verdicts(key: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """For the release ``key``: the flag names it surely knows (flag), and the others with their verdict
    (flag, verdict). A name in neither is in no table read (see :func:`_default`)."""
    judged = table_at(key).judged
    yes: list[str] = []
    other: list[tuple[str, str]] = []
    for flag, (_first, gone) in SPANS.items():
        verdict = known(flag, key)
        if verdict == "yes" or (verdict == "unknown" and gone is None):
            # (a release whose table was not read is only judged on names the newest table read lacks)
            yes.append(flag)
        elif judged or verdict == "no" or gone is not None:
            other.append((flag, verdict))
    return (
        pl.DataFrame({"flag": yes}, schema={"flag": pl.String}),
        pl.DataFrame(other, schema={"flag": pl.String, "verdict": pl.String}, orient="row"),
    )


@cache
def _known_to(key: int) -> frozenset[str]:
    return frozenset(_verdicts(key)[0].get_column("flag").to_list())


def _cap001_ignorable(target_keys: tuple[int, ...]) -> frozenset[str]:
    """The flags every target of the batch surely knows: CAP001 has nothing to say about them."""
    if not target_keys:
        return frozenset()
    return frozenset.intersection(*(_known_to(key) for key in target_keys))


def _default(key: int) -> str:
    """The verdict on a name that no table read has: unknown to a release whose table was read or
    bracketed (the newest table read lacks it), else unknown either way."""
    return "no" if table_at(key).judged else "unknown"


def _judged_flags(ctx: Context) -> pl.LazyFrame:
    """(doc, flag, verdict) of every recorded flag its document's target does not surely know."""
    docs = ctx.status_domains().select("doc", "target_key")
    parts = []
    for key in ctx.target_keys:
        yes, other = _verdicts(key)
        caps = ctx.caps.select("doc", "flag")
        if len(ctx.target_keys) > 1:
            caps = caps.join(docs.filter(pl.col("target_key") == key).select("doc"), on="doc", how="semi")
        unknown = caps.join(yes.lazy(), on="flag", how="anti")
        parts.append(
            unknown.join(other.lazy(), on="flag", how="left").with_columns(
                pl.col("verdict").fill_null(_default(key)), pl.lit(key, pl.Int64).alias("target_key")
            )
        )
    if not parts:
        return pl.LazyFrame(schema={"doc": pl.UInt32, "flag": pl.String, "verdict": pl.String})
    return pl.concat(parts, how="vertical").select("doc", "flag", "verdict")


@rule(
    code="CAP001",
    name="caps-flag-unknown",
    scope="status",
    severities=("critical", "medium", "info"),
    severity_logic=(
        "critical: the status file records capability flags that the target's flag table lacks (read from "
        "libvirt's sources for 69 releases, 3.0.0 to 11.3.0), including kqemu/enable-kqemu on 5.3.0 and "
        "later; medium: the target's table was not read and lies between two tables read (from 5.3.0 on "
        "each is a prefix of the next), and a flag is in the later one only ('maybe unknown'); info: the "
        "target's table was not read (releases after 11.3.0, below 3.0.0, release candidates and "
        "maintenance releases before 5.3.0) and a flag is in no table read ('unknown')."
    ),
    message="The status XML records capability flags {detail}",
    why=(
        "A restarted libvirtd reads every <qemuCaps><flag name=.../> of a status file, and a name its "
        "capability table lacks is a hard error ('Unknown qemu capabilities flag ...'): the status file "
        "fails to load ('Failed to load config for domain ...') and libvirt forgets the guest, while its "
        "QEMU keeps running, unmanaged. A persistent definition of the same guest then shows as shut off, "
        "and starting it would run a second QEMU on the same disks. Downgrades hit it (the file records the "
        "flags of the newer release that started the guest), and so do guests started before 5.3.0 with "
        "kqemu flags. Seen on libvirt 9.0.0 after a downgrade from 11.3.0 (flag virtio-crypto)."
    ),
    evidence=(
        "qemuDomainObjPrivateXMLParse and virDomainObjListLoadAllConfigs (every release 3.0.0-11.3.0); the "
        "flag tables of VIR_ENUM_IMPL(virQEMUCaps) per release (qemucaps-flags.csv); 5dd6e7f949 (5.3.0: "
        "kqemu, enable-kqemu deleted); seen on 9.0.0 (downgrade from 11.3.0)"
    ),
    affected=(
        "every release; verdicts rest on the tables of 3.0.0-8.5.0 (every minor release), 9.0.0, 9.6.0, "
        "9.8.0, 9.10.0, 10.4.0, 10.5.0, 10.7.0 and 11.3.0; releases in between are bracketed from 5.3.0 on "
        "('maybe unknown'); after 11.3.0 unknown"
    ),
    remediation=(
        "Do not downgrade libvirtd below the release that started the guest: migrate the guest away, or "
        "shut it down cleanly, first. A guest already forgotten runs unmanaged: do not start its definition "
        "again; stop its QEMU by hand or go back to the newer libvirt."
    ),
    caps_flags=(ALL_CAPS_FLAGS,),
    caps_ignorable=_cap001_ignorable,
)
def cap001(ctx: Context) -> Parts:
    per_doc = (
        _judged_flags(ctx)
        .group_by("doc", "verdict")
        .agg(pl.col("flag").unique().sort().str.join(", ").alias("flags"), pl.len().alias("n"))
        .join(ctx.status_domains().select("doc", "target_key", "target_text"), on="doc", how="inner")
    )
    return ((per_doc.with_columns(_table_text()), _cap001_columns()),)


def _table_text() -> pl.Expr:
    """How the target's table is known, for the message (a handful of targets per fleet)."""
    return (
        pl.col("target_key")
        .map_elements(lambda key: table_at(key).describe(), return_dtype=pl.String)
        .alias("_table")
    )


@cache
def _cap001_columns() -> Shape:
    verdict, target, flags = pl.col("verdict"), pl.col("target_text"), pl.col("flags")
    detail = (
        pl.when(verdict == "no")
        .then(
            fmt(
                "that {} does not know ({}; {}): at a restart it fails to load this status file ('Unknown "
                "qemu capabilities flag'), forgets the guest, and its QEMU keeps running unmanaged",
                target,
                flags,
                pl.col("_table"),
            )
        )
        .when(verdict == "maybe")
        .then(
            fmt(
                "that {} maybe does not know ({}): its table was not read and lies between the tables read "
                "({}), and only the later one has them; if it lacks them, the guest is forgotten at a "
                "restart",
                target,
                flags,
                pl.col("_table"),
            )
        )
        .otherwise(
            fmt(
                "that no table read has ({}; newest read: {}), so whether {} knows them is unknown; a "
                "release that does not know one forgets the guest at a restart",
                flags,
                pl.lit(COVERED[_NEWEST_COVERED]),
                target,
            )
        )
    )
    severity = verdict.replace_strict(_SEVERITY, return_dtype=pl.String)
    return finding_columns("CAP001", severity, {"detail": detail}, recorded_bus=flags)


_V7_7: Final = libvirt_key("7.7.0")
_V8_5: Final = libvirt_key("8.5.0")


@cache
def _telling(after_key: int) -> tuple[str, ...]:
    """The flags whose presence shows a guest started by a release after ``after_key`` (a lower bound)."""
    return tuple(sorted(started_after().filter(pl.col("after_key") >= after_key).get_column("flag")))


def _lacking(ctx: Context, flag: str, retired_after: int) -> pl.LazyFrame:
    """The running guests with recorded capabilities but without ``flag`` among them, unless their flags
    show a start after ``retired_after``: the release after it no longer sets the retired ``flag`` (a
    guest it starts records it never), so its absence proves nothing (seen: 9.0.0's status files lack
    both 'blockdev' and 'secret')."""
    having = ctx.caps.filter(pl.col("flag") == flag).select("doc")
    later = ctx.caps.filter(pl.col("flag").is_in(_telling(retired_after))).select("doc")
    return (
        ctx.status_domains()
        .filter(pl.col("caps_count") > 0)
        .join(having, on="doc", how="anti")
        .join(later, on="doc", how="anti")
    )


def _lacking_ignorable(flag: str, retired_after: int) -> frozenset[str]:
    """For :func:`_lacking`: every flag but ``flag`` and those that show a start after ``retired_after``."""
    return frozenset(SPANS) - {flag} - frozenset(_telling(retired_after))


@cache
def _cap002_ignorable(_targets: tuple[int, ...] = ()) -> frozenset[str]:
    return _lacking_ignorable("blockdev", _V8_5)


@cache
def _cap004_ignorable(_targets: tuple[int, ...] = ()) -> frozenset[str]:
    return _lacking_ignorable("secret", _V7_7)


@rule(
    code="CAP002",
    name="legacy-block-guest",
    scope="status",
    severities=("high", "medium"),
    severity_logic=(
        "high (consequence INFERRED) for targets >= 9.0.0: the status file records capabilities but not "
        "'blockdev', so the guest's disks were set up with the legacy -drive code, which 9.0.0 removed; "
        "medium for targets 8.6.0-8.10.x, whose code was not read (present @8.5.0, gone @9.0.0); not "
        "reported for targets <= 8.5.x, nor where the recorded flags show a start after 8.5.0 (9.0.0 retired "
        "the flag and no longer records it: its guests lack 'blockdev', seen in the lab; a guest started by "
        "8.6.x with a QEMU older than 4.2 would be missed, unknown)."
    ),
    message="The status XML records capabilities without 'blockdev': {detail}",
    why=(
        "libvirt used QEMU's -blockdev only from 5.10.0 on (and only with QEMU >= 4.2); a guest whose "
        "recorded capabilities lack 'blockdev' was started with the legacy -drive code. That code is present "
        "@8.5.0 and gone @9.0.0 (NEWS: support for QEMU < 4.2 removed in 8.7.0), so a >= 9.0.0 daemon "
        "manages the guest's disks with code that assumes blockdev node names the guest does not have. What "
        "exactly fails (block jobs, disk hotplug/unplug, media change, or the reconnect) is an inference: "
        "not seen in a lab."
    ),
    evidence=(
        "legacy block code present @8.5.0, gone @9.0.0 (the blockdev flag retired); NEWS 8.7.0 (QEMU < 4.2 "
        "unsupported); blockdev used from 5.10.0"
    ),
    affected=">= 9.0.0 (inferred consequence); 8.6.0-8.10.x unknown (not read); <= 8.5.x not affected",
    remediation=(
        "Cold-boot the guest (shut down, start) under the current libvirt and QEMU before upgrading "
        "libvirtd to >= 9.0.0, or migrate it to a host that already runs the new libvirt."
    ),
    caps_flags=(ALL_CAPS_FLAGS,),
    caps_ignorable=_cap002_ignorable,
)
def cap002(ctx: Context) -> Parts:
    hits = _lacking(ctx, "blockdev", _V8_5).filter(pl.col("target_key") >= _V8_6)
    return ((hits, _cap002_columns()),)


@cache
def _cap002_columns() -> Shape:
    sure = pl.col("target_key") >= _V9_0
    detail = (
        pl.when(sure)
        .then(
            fmt(
                "the guest was started with the legacy -drive block code, which {} no longer has, so its "
                "disk operations after the upgrade are likely to fail (inferred, not seen)",
                pl.col("target_text"),
            )
        )
        .otherwise(
            fmt(
                "the guest was started with the legacy -drive block code; whether {} still has it is "
                "unknown (present in 8.5.0, gone in 9.0.0)",
                pl.col("target_text"),
            )
        )
    )
    severity = pl.when(sure).then(pl.lit("high")).otherwise(pl.lit("medium"))
    return finding_columns("CAP002", severity, {"detail": detail}, recorded_bus=pl.lit("no blockdev"))


@rule(
    code="CAP003",
    name="json-device-unplug",
    scope="status",
    severities=("high",),
    severity_logic=(
        "high: the status file records 'device.json' but not 'device.json+hotplug' (the guest was started by "
        "libvirt 7.9.0-8.0.x with JSON -device), unless host facts give a QEMU other than 6.2, with which "
        "the hazard does not occur."
    ),
    message="The status XML records 'device.json' without 'device.json+hotplug': {detail}",
    why=(
        "libvirt 7.9.0 started passing -device as JSON. With QEMU 6.2, devices created that way never "
        "deliver DEVICE_DELETED when unplugged, so a hot-unplug never completes; 8.1.0 retired the flag and "
        "added 'device.json+hotplug', set only where JSON -device and hotplug work together. The flags of "
        "the starting release stay with the guest for its life, restarts and upgrades included."
    ),
    evidence="bd3d00babc (8.1.0: device.json retired, device.json+hotplug added); device.json added in 7.9.0",
    affected=(
        "guests started by 7.9.0-8.0.x with QEMU 6.2, under any later daemon; the restart does not cause it "
        "but does not cure it either"
    ),
    remediation=(
        "Do not rely on hot-unplug for this guest: cold-boot it under libvirt >= 8.1.0 to get "
        "device.json+hotplug."
    ),
    caps_flags=("device.json", "device.json+hotplug"),
)
def cap003(ctx: Context) -> Parts:
    json_docs = ctx.caps.filter(pl.col("flag") == "device.json").select("doc")
    fixed = ctx.caps.filter(pl.col("flag") == "device.json+hotplug").select("doc")
    qemu = pl.col("qemu_key")
    other_qemu = qemu.is_not_null() & ~qemu.is_between(_QEMU_6_2[0], _QEMU_6_2[1], closed="left")
    hits = (
        ctx.status_domains()
        .join(json_docs, on="doc", how="semi")
        .join(fixed, on="doc", how="anti")
        .filter(~other_qemu)
    )
    return ((hits, _cap003_columns()),)


@cache
def _cap003_columns() -> Shape:
    detail = (
        pl.when(pl.col("qemu_key").is_null())
        .then(
            pl.lit(
                "if the guest's QEMU is 6.2 (the status file does not record it; host facts can), no "
                "hot-unplug of its devices ever completes (DEVICE_DELETED is never delivered)"
            )
        )
        .otherwise(
            pl.lit("its QEMU is 6.2, so no hot-unplug ever completes (DEVICE_DELETED is not delivered)")
        )
    )
    return finding_columns("CAP003", "high", {"detail": detail}, recorded_bus=pl.lit("device.json"))


@rule(
    code="CAP004",
    name="master-key-missing",
    scope="status",
    severities=("high",),
    severity_logic=(
        "high (INFERENCE) for targets >= 7.8.0: the status file records capabilities but not 'secret', so "
        "the guest was started without a master key, which reconnect requires from 7.8.0 on; not reported "
        "for targets <= 7.7.x, nor where the recorded flags show a start after 7.7.0 (7.8.0 retired the "
        "flag: the guests it and later releases start lack 'secret', seen on 9.0.0 in the lab)."
    ),
    message="The status XML records capabilities without 'secret': {detail}",
    why=(
        "libvirt gives every guest whose QEMU supports secret objects a master key and keeps it in a file of "
        "the guest's private directory. Up to 7.7.0 reconnect loaded that key only when the 'secret' "
        "capability was set; from 7.8.0 the guard is gone and reconnect fails without the key file, and "
        "libvirt stops the guest. A status file without 'secret' belongs to a guest started before master "
        "keys were used, which most likely has no key file (inference: the file itself is not visible here)."
    ),
    evidence="capability guard of the master key load present @7.7.0, gone @7.8.0 (qemuProcessReconnect)",
    affected=">= 7.8.0; <= 7.7.x not affected",
    remediation=(
        "Check for the guest's master-key.aes in its libvirt private directory before upgrading to >= 7.8.0; "
        "without it, shut the guest down (or migrate it) first."
    ),
    caps_flags=(ALL_CAPS_FLAGS,),
    caps_ignorable=_cap004_ignorable,
)
def cap004(ctx: Context) -> Parts:
    return ((_lacking(ctx, "secret", _V7_7).filter(pl.col("target_key") >= _V7_8), _cap004_columns()),)


@cache
def _cap004_columns() -> Shape:
    detail = fmt(
        "the guest was started without a master key, and {} stops a guest whose master key file is missing "
        "when it reconnects (inferred from the flags: check the key file)",
        pl.col("target_text"),
    )
    return finding_columns("CAP004", "high", {"detail": detail}, recorded_bus=pl.lit("no secret"))
