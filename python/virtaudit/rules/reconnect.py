"""More RST rules: what a restarted daemon does with the parts of a status file that later releases added
(an iTCO watchdog, migration job phases, the D-Bus helper, nbdkit, the TPM emulator, storage-pool volumes;
``libvirt-restart-hazards.md`` §6.5 and the lab's package changes, docs/lab.md). Beside
:mod:`virtaudit.rules.rst`, in a module of its own for size; they read the scan columns of docs/schema.md
(domains.job_async, job_phase, dbus_daemon, tpm_backend; devices.volume_actual_type, nbdkit)."""

from __future__ import annotations

from functools import cache
from typing import Final

import polars as pl

from virtaudit.rules._base import Context, Parts, Shape, alias_q, device_text, finding_columns, fmt, rule
from virtaudit.versions import libvirt_key

_V7_10: Final = libvirt_key("7.10.0")
_V8_5: Final = libvirt_key("8.5.0")
_V9_0: Final = libvirt_key("9.0.0")
_V9_1: Final = libvirt_key("9.1.0")
_V9_8: Final = libvirt_key("9.8.0")
_V10_8: Final = libvirt_key("10.8.0")
_V11_3: Final = libvirt_key("11.3.0")

# The migration job phases 8.5.0 added (doc 6.5.1): postcopy_failed and the *_resume phases.
_MIGRATION_JOBS: Final = ("migration out", "migration in")


def _target() -> pl.Expr:
    return pl.col("target_key")


def _by_target(*arms: tuple[pl.Expr, str]) -> pl.Expr:
    """The severity of the first arm whose condition holds (null: none, the row is not reported)."""
    out = pl.lit(None, pl.String)
    for cond, severity in reversed(arms):
        out = pl.when(cond).then(pl.lit(severity)).otherwise(out)
    return out


def _device_shape(code: str, severity: pl.Expr, detail: pl.Expr) -> Shape:
    return finding_columns(
        code,
        severity,
        {"device": device_text(), "alias": alias_q(), "detail": detail},
        element=pl.col("element"),
        alias=pl.col("alias"),
    )


def _reported(frame: pl.LazyFrame, severity: pl.Expr) -> pl.LazyFrame:
    """The rows of ``frame`` that ``severity`` reports (not null), with it as ``_severity``."""
    return frame.with_columns(severity.alias("_severity")).filter(pl.col("_severity").is_not_null())


# ---------------------------------------------------------------------------------------------------
# RST009: the iTCO watchdog


@cache
def _rst009_severity() -> pl.Expr:
    return _by_target((_target() < _V9_1, "critical"), (_target() < _V11_3, "medium"))


@rule(
    code="RST009",
    name="watchdog-model-unknown",
    scope="status",
    severities=("critical", "medium"),
    severity_logic=(
        "critical for targets <= 9.0.x: the status file has a <watchdog model='itco'/> (q35 guests started "
        "under 11.3.0 get one implicitly), which 9.0.0 does not know (seen in the lab); for older targets, "
        "INFERRED (libvirt adds model names and does not drop them, so a release older than one that lacks "
        "it lacks it too); medium for targets 9.1.0-11.2.x, where whether the model is known was not read or "
        "tested (the first release that knows 'itco' is not established here); not reported for targets "
        ">= 11.3.0 (11.3.0 writes the model and reloads such status files: the lab's restarts under 11.3.0)."
    ),
    message="{device} ({alias}) has the watchdog model 'itco': {detail}",
    why=(
        "A restarted libvirtd parses the whole domain definition of every status file; a watchdog model its "
        "enum lacks is a hard error ('unsupported configuration: unknown watchdog model 'itco''): the status "
        "file fails to load ('Failed to load config for domain ...') and libvirt forgets the guest while its "
        "QEMU keeps running, unmanaged. Under 11.3.0 q35 guests get an implicit iTCO watchdog (every q35 "
        "guest of the lab has one without asking), so a q35 guest started under it is lost on a downgrade "
        "to 9.0.0."
    ),
    evidence=(
        "lab: make lab-upgrade, 11.3.0 -> 9.0.0, up-q35-port lost ('unknown watchdog model 'itco'', "
        "tests/lab/recorded/11.3.0-to-9.0.0); q35 guests with the implicit itco watchdog reconnect under "
        "11.3.0 (tests/lab/recorded/restart-11.3.0)"
    ),
    affected=(
        "seen on 9.0.0 (lost); <= 9.0.x inferred; 9.1.0-11.2.x unknown (not read, not tested); known to "
        "11.3.0; after 11.3.0 not reported (inferred: model names are not dropped)"
    ),
    remediation=(
        "Do not downgrade libvirtd below the release that started the guest: migrate the guest away, or shut "
        "it down cleanly, first. A guest already forgotten runs unmanaged: do not start its definition "
        "again; stop its QEMU by hand or go back to the newer libvirt."
    ),
)
def rst009(ctx: Context) -> Parts:
    itco = ctx.element_devices("watchdog").filter(pl.col("model") == "itco")
    return ((_reported(itco, _rst009_severity()), _rst009_columns()),)


@cache
def _rst009_columns() -> Shape:
    detail = (
        pl.when(pl.col("_severity") == "critical")
        .then(
            fmt(
                "{} does not know that model, so at a restart it fails to load this status file ('unknown "
                "watchdog model'), forgets the guest, and its QEMU keeps running unmanaged",
                pl.col("target_text"),
            )
        )
        .otherwise(
            fmt(
                "whether {} knows that model is unknown (9.0.0 does not, 11.3.0 does); a release that does "
                "not forgets the guest at a restart",
                pl.col("target_text"),
            )
        )
    )
    return _device_shape("RST009", pl.col("_severity"), detail)


# ---------------------------------------------------------------------------------------------------
# RST010: migration job phases


@rule(
    code="RST010",
    name="migration-phase-unknown",
    scope="status",
    severities=("critical",),
    severity_logic=(
        "critical for targets < 8.5.0: the status file records a migration job ('migration out' or "
        "'migration in') in a phase that 8.5.0 added (postcopy_failed, or one ending in _resume); not "
        "reported for targets >= 8.5.0."
    ),
    message="The status XML records a {recorded_bus}: {detail}",
    why=(
        "8.5.0 added the migration job phases 'postcopy_failed' and '*_resume' (post-copy recovery). Older "
        "releases reject a phase they do not know when they parse the status file ('Unknown job phase'), so "
        "the file fails to load and libvirt forgets the guest while its QEMU keeps running."
    ),
    evidence="libvirt-restart-hazards.md 6.5.1 (phases added in 8.5.0; older releases refuse them)",
    affected="targets < 8.5.0 (a downgrade); >= 8.5.0 know the phases (read up to 11.3.0); unknown after",
    remediation=(
        "Finish or cancel the migration (virsh domjobabort, or recover the post-copy migration) before "
        "downgrading libvirtd below 8.5.0."
    ),
)
def rst010(ctx: Context) -> Parts:
    phase = pl.col("job_phase")
    new_phase = (phase == "postcopy_failed") | phase.str.ends_with("_resume")
    docs = ctx.status_domains().filter(
        pl.col("job_async").is_in(_MIGRATION_JOBS).fill_null(False)
        & new_phase.fill_null(False)
        & (_target() < _V8_5)
    )
    return ((docs, _rst010_columns()),)


@cache
def _rst010_columns() -> Shape:
    recorded = fmt("'{}' job in phase '{}'", "job_async", "job_phase")
    detail = fmt(
        "{} does not know that phase (added in 8.5.0), so at a restart it fails to load this status file "
        "('Unknown job phase'), forgets the guest, and its QEMU keeps running unmanaged",
        pl.col("target_text"),
    )
    return finding_columns(
        "RST010", "critical", {"recorded_bus": recorded, "detail": detail}, recorded_bus=pl.col("job_phase")
    )


# ---------------------------------------------------------------------------------------------------
# RST011: the D-Bus helper


@rule(
    code="RST011",
    name="dbus-helper-reconnect",
    scope="status",
    severities=("medium", "info"),
    severity_logic=(
        "medium for targets >= 11.3.0: the status file records a D-Bus helper (<dbusDaemon/>), and the "
        "target stops the guest at reconnect when that helper cannot be reached (whether it can is not in "
        "the file); info for targets 10.8.0-11.2.x (the check is absent @10.7.0 and present @11.3.0: "
        "whether these releases have it is unknown); not reported for targets <= 10.7.x."
    ),
    message="The status XML records a D-Bus helper (<dbusDaemon/>): {detail}",
    why=(
        "libvirt starts a private dbus-daemon for guests that use D-Bus display or vmstate; the helper is "
        "its own process and normally survives a daemon restart. The reconnect of 11.3.0 checks it and "
        "stops the guest when it cannot be reached (the helper died or its socket is gone); 10.7.0 has no "
        "such check. The audit cannot see whether the helper runs: medium."
    ),
    evidence="libvirt-restart-hazards.md 6.5.3: reconnect check present @11.3.0, absent @10.7.0",
    affected=(
        "11.3.0 (read); 10.8.0-11.2.x unknown; <= 10.7.x not affected; after 11.3.0 unknown (judged as "
        "11.3.0)"
    ),
    remediation=(
        "Before restarting or upgrading libvirtd, check that the guest's dbus-daemon process runs (it is "
        "started per guest by libvirt); if it does not, shut the guest down cleanly or migrate it first."
    ),
)
def rst011(ctx: Context) -> Parts:
    severity = _by_target((_target() >= _V11_3, "medium"), (_target() >= _V10_8, "info"))
    docs = _reported(ctx.status_domains().filter(pl.col("dbus_daemon").fill_null(False)), severity)
    return ((docs, _rst011_columns()),)


@cache
def _rst011_columns() -> Shape:
    detail = (
        pl.when(pl.col("_severity") == "medium")
        .then(
            fmt(
                "{} stops the guest when it reconnects and cannot reach that helper, which this file cannot "
                "show (check that the guest's dbus-daemon runs)",
                pl.col("target_text"),
            )
        )
        .otherwise(
            fmt(
                "whether {} stops the guest when it cannot reach the helper is unknown (10.7.0 does not, "
                "11.3.0 does)",
                pl.col("target_text"),
            )
        )
    )
    return finding_columns("RST011", pl.col("_severity"), {"detail": detail})


# ---------------------------------------------------------------------------------------------------
# RST012: nbdkit


@rule(
    code="RST012",
    name="nbdkit-disk-reconnect",
    scope="status",
    severities=("medium", "info"),
    severity_logic=(
        "info for targets >= 9.8.0: a disk is served by nbdkit (source/privateData/nbdkit); the target "
        "stops the guest at reconnect only when nbdkit's pidfile cannot be read, which a daemon restart "
        "does not cause (a dead nbdkit is restarted); medium for targets < 9.8.0 (a downgrade): the status "
        "file was written by a release with nbdkit support (9.8.0 or later), and what an older release does "
        "with such a disk at reconnect is unknown."
    ),
    message="{device} ({alias}) is served by nbdkit: {detail}",
    why=(
        "From 9.8.0 libvirt can serve network disks through an nbdkit process and records it in the disk's "
        "private data. At reconnect it reads nbdkit's pidfile: when that fails it stops the guest, and a "
        "dead nbdkit is restarted. The pidfile lives with the guest's runtime state, which a daemon restart "
        "or upgrade keeps, so only a host whose runtime state was damaged loses the guest: info. Releases "
        "before 9.8.0 have no nbdkit support, and their handling of such a disk was not read: medium."
    ),
    evidence="libvirt-restart-hazards.md 6.5.4 (reconnect of >= 9.8.0: unreadable pidfile stops the guest)",
    affected=">= 9.8.0 (read up to 11.3.0; unknown after); < 9.8.0 unknown (no nbdkit support)",
    remediation=(
        "Before a restart, check that the guest's nbdkit processes run and their pidfiles exist; do not "
        "downgrade below 9.8.0 while the guest runs."
    ),
)
def rst012(ctx: Context) -> Parts:
    severity = _by_target((_target() >= _V9_8, "info"), (pl.lit(True), "medium"))
    disks = ctx.element_devices("disk").filter(pl.col("nbdkit").fill_null(False))
    return ((_reported(disks, severity), _rst012_columns()),)


@cache
def _rst012_columns() -> Shape:
    detail = (
        pl.when(pl.col("_severity") == "info")
        .then(
            fmt(
                "{} stops the guest at reconnect if nbdkit's pidfile cannot be read (a restart alone does "
                "not cause that; a dead nbdkit is restarted)",
                pl.col("target_text"),
            )
        )
        .otherwise(
            fmt(
                "{} predates nbdkit support (9.8.0), and what it does with this disk at reconnect is unknown",
                pl.col("target_text"),
            )
        )
    )
    return _device_shape("RST012", pl.col("_severity"), detail)


# ---------------------------------------------------------------------------------------------------
# RST013: the TPM emulator


@rule(
    code="RST013",
    name="tpm-emulator-reconnect",
    scope="status",
    severities=("medium",),
    severity_logic=(
        "medium for targets < 9.0.0: the guest has a TPM with the emulator backend (swtpm); a reconnect "
        "without the fix of 9.0.0 crashes the daemon. Medium, not high: the guests keep running, and the "
        "first release with the crash is unverified, so a target below 9.0.0 may not have it. Not reported "
        "for targets >= 9.0.0."
    ),
    message="The guest has a TPM emulator (swtpm): {detail}",
    why=(
        "9.0.0's NEWS: reconnecting to a guest with an emulated TPM crashed libvirtd, because the paths of "
        "external devices were not set up at reconnect (9.0.0 added qemuExtDevicesInitPaths to it). A "
        "crashed daemon manages none of the host's guests until it is fixed."
    ),
    evidence="libvirt 9.0.0 NEWS (bug fix); libvirt-restart-hazards.md 6.5.6",
    affected="targets < 9.0.0 (fixed in 9.0.0); the first affected release is unverified; >= 9.0.0 fixed",
    remediation=(
        "Upgrade to libvirt >= 9.0.0 rather than restarting an older daemon with such a guest running, or "
        "shut the guest down first."
    ),
)
def rst013(ctx: Context) -> Parts:
    docs = ctx.status_domains().filter(
        (pl.col("tpm_backend") == "emulator").fill_null(False) & (_target() < _V9_0)
    )
    return ((docs, _rst013_columns()),)


@cache
def _rst013_columns() -> Shape:
    detail = fmt(
        "{} may crash when it reconnects to this guest (fixed in 9.0.0; which older releases have the bug "
        "is unverified)",
        pl.col("target_text"),
    )
    return finding_columns("RST013", "medium", {"detail": detail}, recorded_bus=pl.lit("emulator"))


# ---------------------------------------------------------------------------------------------------
# RST014: storage-pool volumes


@rule(
    code="RST014",
    name="volume-retranslated",
    scope="status",
    severities=("medium", "info"),
    severity_logic=(
        "medium for targets >= 7.10.0: a disk of type 'volume' without a recorded actualType; the target "
        "translates the volume again at reconnect and stops the guest if that fails (pool inactive, volume "
        "gone), which the file cannot show (read @7.10.0 to @11.3.0; later releases unknown, judged as "
        "11.3.0); info for targets < 7.10.0 (their reconnect was not read: unknown)."
    ),
    message="{device} ({alias}) is a storage-pool volume without a recorded actualType: {detail}",
    why=(
        "libvirt records what a storage-pool volume was translated to (source/@actualType) only from a "
        "release between 9.0.0 and 9.10.0 on. Without it, reconnect translates the volume again through "
        "the storage driver and stops the guest when that fails, for instance when the pool is not (yet) "
        "active after the restart or the volume was removed."
    ),
    evidence="libvirt-restart-hazards.md 6.5.7 (reconnect re-translates @7.10.0 to @11.3.0)",
    affected="7.10.0-11.3.0 (read); after 11.3.0 unknown (judged as 11.3.0); < 7.10.0 unknown",
    remediation=(
        "Before restarting libvirtd, make sure the volume's pool is active and autostarted; cold-boot the "
        "guest under a release that records actualType to be rid of the hazard."
    ),
)
def rst014(ctx: Context) -> Parts:
    severity = _by_target((_target() >= _V7_10, "medium"), (pl.lit(True), "info"))
    disks = ctx.element_devices("disk").filter(
        (pl.col("type") == "volume") & pl.col("volume_actual_type").is_null()
    )
    return ((_reported(disks, severity), _rst014_columns()),)


@cache
def _rst014_columns() -> Shape:
    detail = (
        pl.when(pl.col("_severity") == "medium")
        .then(
            fmt(
                "{} translates it again at reconnect and stops the guest if that fails (pool inactive, "
                "volume gone)",
                pl.col("target_text"),
            )
        )
        .otherwise(
            fmt(
                "whether {} translates it again at reconnect (stopping the guest if that fails, as 7.10.0 "
                "to 11.3.0 do) is unknown",
                pl.col("target_text"),
            )
        )
    )
    return _device_shape("RST014", pl.col("_severity"), detail)
