"""Archives (tar, tar.gz, tar.xz, zip, sosreports) read in place, and Parquet datasets written by
``virtaudit scan --out``: built in the tests from the project's own fixtures and example fleet."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import REPO_ROOT, load_scan

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "devices"
FLEET = REPO_ROOT / "examples" / "fleet"


@pytest.fixture(scope="module")
def scan() -> Any:
    return load_scan()


def status_files() -> list[Path]:
    files = sorted(FIXTURES.glob("*.xml"))
    if FLEET.is_dir():
        files += sorted(FLEET.glob("hv-x86-01/*.xml"))[:4]
    return files


def add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def sosreport(
    path: Path,
    files: list[Path],
    *,
    hostname: str | None = "hv-sos-01",
    layout: str = "var/run",
    extra: dict[str, bytes] | None = None,
    mode: str = "w:xz",
) -> Path:
    top = "sosreport-hv-sos-01-2026-01-01-abcdef"
    with tarfile.open(path, mode) as tf:
        add(tf, f"{top}/sos_commands/libvirt/virsh_-r_list_--all", b" Id   Name   State\n")
        for f in files:
            add(tf, f"{top}/{layout}/libvirt/qemu/{f.name}", f.read_bytes())
        add(tf, f"{top}/etc/libvirt/qemu/persistent.xml", b"<domain type='kvm'><name>p</name></domain>")
        add(tf, f"{top}/sos_commands/foo/report.xml", b"<report/>")
        if hostname is not None:
            add(tf, f"{top}/sos_commands/host/hostname", hostname.encode() + b"\n")
        for name, data in (extra or {}).items():
            add(tf, f"{top}/{name}", data)
    return path


def same_rows(a: pl.DataFrame, b: pl.DataFrame, drop: tuple[str, ...] = ("path", "host", "doc_id")) -> None:
    """Equal rows, whatever the paths (and document ids: positions in each scan): ordered by file name,
    then document order."""

    def key(df: pl.DataFrame) -> pl.DataFrame:
        df = df.with_columns(pl.col("path").str.split("/").list.last().alias("_file"))
        return df.sort("_file", maintain_order=True).drop("_file", *drop)

    assert key(a).equals(key(b)), f"\n{key(a)}\n!=\n{key(b)}"


# --------------------------------------------------------------------------------------------------
# archives


@pytest.mark.parametrize(
    "mode,suffix", [("w", ".tar"), ("w:gz", ".tar.gz"), ("w:xz", ".tar.xz"), ("zip", ".zip")]
)
def test_archive_reads_like_files(tmp_path: Path, scan: Any, mode: str, suffix: str) -> None:
    files = status_files()
    archive = tmp_path / f"bundle{suffix}"
    if mode == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                zf.write(f, f"bundle/{f.parent.name}/{f.name}")
    else:
        with tarfile.open(archive, mode) as tf:
            for f in files:
                tf.add(f, f"bundle/{f.parent.name}/{f.name}")
    before = sorted(os.listdir(tmp_path))
    got = scan(archive)
    direct = scan(*files)
    assert sorted(os.listdir(tmp_path)) == before, "nothing is unpacked to disk"
    assert got.ok and got.domains.height == len(files)
    # member paths are ARCHIVE!MEMBER; hosts come from the member's parent directory
    members = sorted((f.parent.name, f.name) for f in files)
    assert got.domains["path"].to_list() == [f"{archive}!bundle/{d}/{n}" for d, n in members]
    assert got.domains["host"].to_list() == [d for d, _n in members]
    for table in ("domains", "devices", "caps", "live_aliases"):
        same_rows(getattr(got, table), getattr(direct, table))


def test_sosreport_layout_hostname_and_facts(tmp_path: Path, scan: Any) -> None:
    from virtaudit import sources

    files = status_files()
    rpms = (
        b"kernel-5.14.0-70.el9.x86_64                 Mon 01 Jan 2024 10:00:00 AM UTC\n"
        b"libvirt-daemon-driver-qemu-8.0.0-10.el9.x86_64   Mon 01 Jan 2024\n"
        b"libvirt-libs-8.0.0-10.el9.x86_64   Mon 01 Jan 2024\n"
        b"qemu-kvm-core-6.2.0-11.el9.x86_64   Mon 01 Jan 2024\n"
    )
    archive = sosreport(tmp_path / "sosreport-hv-sos-01.tar.xz", files, extra={"installed-rpms": rpms})
    source = sources.read_archive(archive)
    s = source.scan
    # only run/libvirt/qemu members: not etc/libvirt/qemu, not other XML of the report
    assert s.ok and s.domains.height == len(files)
    assert all("/var/run/libvirt/qemu/" in p for p in s.domains["path"].to_list())
    assert set(s.domains["host"].to_list()) == {"hv-sos-01"}
    assert set(s.devices["host"].to_list()) == {"hv-sos-01"}
    top = "sosreport-hv-sos-01-2026-01-01-abcdef"
    assert source.facts.rows() == [("hv-sos-01", "8.0.0", "6.2.0", f"{archive}!{top}/installed-rpms")]
    # virtaudit.scan() reads it too
    assert scan(archive).domains.height == len(files)


def test_sosreport_run_layout_etc_hostname_and_dpkg(tmp_path: Path) -> None:
    from virtaudit import sources

    dpkg = (
        b"Desired=Unknown/Install/Remove/Purge/Hold\n"
        b"||/ Name                 Version              Architecture Description\n"
        b"ii  libvirt-daemon-system 9.0.0-4+deb12u1     amd64        Libvirt daemon configuration files\n"
        b"ii  libvirt-daemon-driver-qemu 9.0.0-4+deb12u1 amd64       Virtualization daemon QEMU driver\n"
        b"ii  qemu-system-x86      1:7.2+dfsg-7+deb12u6 amd64        QEMU full system emulation (x86)\n"
    )
    archive = sosreport(
        tmp_path / "sos.tar.gz",
        status_files()[:2],
        hostname=None,
        layout="run",
        mode="w:gz",
        extra={"etc/hostname": b"hv-deb-07\n", "sos_commands/dpkg/dpkg_-l": dpkg},
    )
    source = sources.read_archive(archive)
    assert source.scan.domains.height == 2
    assert set(source.scan.domains["host"].to_list()) == {"hv-deb-07"}
    top = "sosreport-hv-sos-01-2026-01-01-abcdef"
    assert source.facts.rows() == [
        ("hv-deb-07", "9.0.0", "7.2", f"{archive}!{top}/sos_commands/dpkg/dpkg_-l")
    ]


def test_sosreport_without_hostname_is_named_after_the_archive(tmp_path: Path) -> None:
    from virtaudit import sources

    archive = sosreport(tmp_path / "sosreport-web01-case42.tar.xz", status_files()[:1], hostname=None)
    source = sources.read_archive(archive)
    assert source.scan.domains["host"].to_list() == ["sosreport-web01-case42"]
    assert source.facts.height == 0


def test_sosreport_explicit_host_name_wins(tmp_path: Path) -> None:
    from virtaudit import sources

    archive = sosreport(tmp_path / "s.tar.xz", status_files()[:2])
    source = sources.read_archive(archive, host_from="fixed-name")
    assert set(source.scan.domains["host"].to_list()) == {"fixed-name"}


def test_sosreport_without_libvirt_reads_nothing(tmp_path: Path) -> None:
    from virtaudit import sources

    archive = sosreport(tmp_path / "s.tar.xz", [])
    source = sources.read_archive(archive)
    assert source.scan.files == 0 and source.scan.ok


def test_package_versions() -> None:
    from virtaudit.sources import package_versions

    assert package_versions("libvirt-7.6.0-6.el8.x86_64 Mon\nqemu-kvm-15:6.0.0-33.el8.x86_64 Tue\n") == (
        "7.6.0",
        "6.0.0",
    )
    assert package_versions(
        "ii  libvirt0  10.0.0-2ubuntu8 amd64 x\nii qemu-system-x86 1:8.2.2+ds-0ubuntu1 amd64 x"
    ) == (
        "10.0.0",
        "8.2.2",
    )
    assert package_versions("bash-5.1-1.x86_64\n") == (None, None)


def test_member_above_the_size_cap_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from virtaudit import sources

    small, big = status_files()[0], b"<domstatus>" + b" " * 50_000 + b"</domstatus>"
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tf:
        add(tf, "h/small.xml", small.read_bytes())
        add(tf, "h/big.xml", big)
    read: list[str] = []
    original = tarfile.TarFile.extractfile

    def spy(self: tarfile.TarFile, member: Any) -> Any:
        read.append(member.name if isinstance(member, tarfile.TarInfo) else member)
        return original(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", spy)
    s = sources.read_archive(archive, max_file_size=small.stat().st_size + 10).scan
    assert read == ["h/small.xml"]
    assert s.domains.height == 1
    assert s.errors.rows() == [
        (
            f"{archive}!h/big.xml",
            "h",
            "too_large",
            f"{len(big)} bytes is above the {small.stat().st_size + 10}-byte limit; not read",
            None,
            None,
        ),
    ]


def test_truncated_and_corrupt_archives_are_error_rows(tmp_path: Path, scan: Any) -> None:
    from virtaudit import sources

    files = status_files()
    good = tmp_path / "good.tar.gz"
    with tarfile.open(good, "w:gz") as tf:
        for f in files:
            tf.add(f, f"h/{f.name}")
    data = good.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    garbage = tmp_path / "garbage.tar.xz"
    garbage.write_bytes(os.urandom(4096))
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    bad_crc = tmp_path / "crc.zip"
    with zipfile.ZipFile(bad_crc, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("h/a.xml", files[0].read_bytes())
        zf.writestr("h/b.xml", files[1].read_bytes())
    raw = bytearray(bad_crc.read_bytes())
    at = raw.index(b"<", raw.index(b"h/b.xml"))  # inside the second member's data
    raw[at + 10] ^= 0xFF
    bad_crc.write_bytes(bytes(raw))

    result = scan(truncated, garbage, empty, bad_crc, good)
    errors_schema = sources.empty_tables()["errors"].schema
    assert result.errors.schema == errors_schema
    by_path = {r["path"]: r for r in result.errors.iter_rows(named=True)}
    trunc = [r for p, r in by_path.items() if p.startswith(f"{truncated}!")]
    assert len(trunc) == 1 and trunc[0]["kind"] == "archive"
    member = trunc[0]["path"].split("!", 1)[1]
    assert member in trunc[0]["message"], "the message names the member"
    assert by_path[str(garbage)]["kind"] == "archive"
    assert by_path[str(empty)]["kind"] == "archive"
    assert by_path[f"{bad_crc}!h/b.xml"]["kind"] == "archive"
    # the members read before the fault are kept, and the good archive is whole
    assert result.domains.filter(pl.col("path").str.starts_with(f"{truncated}!")).height >= 1
    assert result.domains.filter(pl.col("path").str.starts_with(f"{bad_crc}!")).height == 1
    assert result.domains.filter(pl.col("path").str.starts_with(f"{good}!")).height == len(files)
    # the schema invariant: every member seen is a domain or an error
    assert not set(result.domains["path"]) & set(result.errors["path"])


def test_bad_members_are_error_rows_not_crashes(tmp_path: Path, scan: Any) -> None:
    archive = tmp_path / "mixed.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("h/empty.xml", b"")
        zf.writestr("h/binary.xml", os.urandom(300))
        zf.writestr("h/other.xml", b"<not-libvirt/>")
        zf.writestr("h/\udcff-name.xml".encode("utf-8", "surrogateescape").decode("latin-1"), b"<domain/>")
        zf.writestr("h/readme.txt", b"not xml: skipped")
    result = scan(archive)
    kinds = sorted(result.errors["kind"].to_list())
    assert "empty" in kinds and "not_libvirt" in kinds
    assert result.files == 4


def test_archive_helpers() -> None:
    from virtaudit.sources import archive_name

    assert archive_name("/x/sosreport-a-b.tar.xz") == "sosreport-a-b"
    assert archive_name("y.TGZ") == "y"
    assert archive_name("z.zip") == "z"


# --------------------------------------------------------------------------------------------------
# Parquet datasets


def test_dataset_round_trip(tmp_path: Path, scan: Any) -> None:
    from virtaudit import sources

    if not FLEET.is_dir():
        pytest.skip("examples/fleet is not there yet")
    original = scan(FLEET, tmp_path / "missing.xml")
    out = tmp_path / "ds"
    hosts = sources.write_dataset(out, original)
    assert set(hosts) == set(original.domains["host"]) | set(original.errors["host"])
    for table in ("domains", "devices", "caps", "live_aliases", "errors"):
        for host in hosts:
            assert (out / table / f"host={host}" / "part-0.parquet").is_file()
        # readable with plain polars in the hive layout
        df = pl.scan_parquet(out / table, hive_partitioning=True).collect()
        assert df.height == getattr(original, table).height
    back, stored = sources.read_dataset(out)
    assert stored.height == 0
    for table in ("domains", "devices", "caps", "live_aliases", "errors"):
        a, b = getattr(back.scan, table), getattr(original, table)
        assert a.schema == b.schema, table
        assert a.equals(b), table
    assert scan(out).domains.equals(original.domains)


def test_dataset_host_names_are_encoded(tmp_path: Path, scan: Any) -> None:
    from virtaudit import sources

    files = status_files()[:3]
    weird = ["host with space", "a/b=c%d", "1234"]
    parts = [scan(f, host_from=h) for f, h in zip(files, weird, strict=True)]
    merged = parts[0].concat(parts[1]).concat(parts[2])
    sources.write_dataset(tmp_path / "ds", merged)
    back = sources.read_dataset(tmp_path / "ds")[0].scan
    assert sorted(back.domains["host"].to_list()) == sorted(weird)
    assert back.domains["host"].dtype == pl.String


def test_directory_of_per_host_datasets(tmp_path: Path, scan: Any) -> None:
    from virtaudit import sources

    if not FLEET.is_dir():
        pytest.skip("examples/fleet is not there yet")
    hosts = sorted(p for p in FLEET.iterdir() if p.is_dir())
    for h in hosts:
        sources.write_dataset(tmp_path / "fleet" / h.name, scan(h))
    (tmp_path / "fleet" / "archives").mkdir()  # not a dataset: ignored
    assert sources.dataset_dirs(tmp_path / "fleet") == [tmp_path / "fleet" / h.name for h in hosts]
    back = scan(tmp_path / "fleet")
    # (document ids are positions in the scan that wrote each dataset: one per host here)
    assert back.domains.drop("doc_id").equals(scan(*hosts).domains.drop("doc_id"))


def test_rewriting_a_host_replaces_only_its_partitions(tmp_path: Path, scan: Any) -> None:
    from virtaudit import sources

    files = status_files()
    out = tmp_path / "ds"
    sources.write_dataset(out, scan(*files[:2], host_from="a"))
    sources.write_dataset(out, scan(*files[2:4], host_from="b"))
    sources.write_dataset(out, scan(files[0], host_from="a"))
    back = sources.read_dataset(out)[0].scan
    counts = dict(back.domains.group_by("host").len().iter_rows())
    assert counts == {"a": 1, "b": 2}


def test_dataset_of_another_schema_version_is_refused(tmp_path: Path, scan: Any) -> None:
    import json

    from virtaudit import sources

    out = tmp_path / "ds"
    sources.write_dataset(out, scan(status_files()[0]))
    meta = json.loads((out / sources.DATASET_META).read_text())
    meta["schema_version"] = 99
    (out / sources.DATASET_META).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="schema version 99"):
        sources.read_dataset(out)
