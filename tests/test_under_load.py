"""A scan under load (issue 6): another process rewrites a tenth of the files in a loop, the way libvirtd
rewrites status files of running guests, while virtaudit scans them all.

Every scan completes, reports each file exactly once (parsed, or as an error row), never crashes, and the
files nobody touched come out exactly as in a quiet scan. The writer alternates the two ways a file
changes under a reader: rewritten in place (truncated, then written in pieces: a reader can see any
prefix) and replaced by a rename (libvirt's own way: a reader sees the old or the new file).

The test uses 2,000 files; ``VIRTAUDIT_LOAD_FILES=20000 pytest tests/test_under_load.py`` runs the full
size of the issue.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import project_fixture_files
from hostile_support import GOOD_STATUS, run_with_timeout

pytestmark = [pytest.mark.usefixtures("scan"), pytest.mark.load]

N_FILES = int(os.environ.get("VIRTAUDIT_LOAD_FILES", "2000"))
HOSTS = 20
TORN_KINDS = {"parsed", "malformed_xml", "empty"}

WRITER = textwrap.dedent(
    """
    import os, sys, time
    paths = sys.argv[3:]
    stop, deadline = sys.argv[1], time.time() + float(sys.argv[2])
    versions = [open(p, "rb").read() for p in paths[:4]]
    versions.append(versions[0][: len(versions[0]) // 3])  # a torn version too
    rewrites = i = 0
    while not os.path.exists(stop) and time.time() < deadline:
        for n, path in enumerate(paths):
            data = versions[(i + n) % len(versions)]
            if (i + n) % 2:
                with open(path, "r+b") as f:  # in place: truncate, then write in pieces
                    f.truncate(0)
                    for at in range(0, len(data), 2048):
                        f.write(data[at : at + 2048])
                        f.flush()
            else:
                tmp = path + ".new"  # libvirt's way: a new file renamed over the old one
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            rewrites += 1
        i += 1
    print(rewrites, flush=True)
    """
)


def build_fleet(root: Path, n: int) -> list[Path]:
    sources = [p.read_bytes() for p in project_fixture_files() if "secrets" not in p.parts][:30] or [
        GOOD_STATUS.encode()
    ]
    paths = []
    for i in range(n):
        host = root / f"hv-{i % HOSTS:02d}"
        host.mkdir(parents=True, exist_ok=True)
        p = host / f"guest-{i:05d}.xml"
        p.write_bytes(sources[i % len(sources)])
        paths.append(p)
    return paths


def test_scan_while_a_tenth_of_the_files_are_rewritten(tmp_path: Path) -> None:
    import virtaudit

    root = tmp_path / "fleet"
    paths = build_fleet(root, N_FILES)
    hot = [p for i, p in enumerate(paths) if i % 10 == 3]
    cold = [str(p) for i, p in enumerate(paths) if i % 10 != 3]
    quiet = virtaudit.scan(root)
    assert quiet.files == N_FILES
    baseline = quiet.domains.filter(pl.col("path").is_in(cold)).sort("path")

    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(stop), "600", *map(str, hot)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)  # let it start
        scans = 0
        seen_kinds: dict[str, int] = {}
        started = time.monotonic()
        while scans < 3 or (time.monotonic() - started < 5 and scans < 10):
            # .new files from the writer's renames are not *.xml: never inputs.
            for jobs in (None, 1):
                result = run_with_timeout(lambda jobs=jobs: virtaudit.scan(root, jobs=jobs), 600)
                scans += 1
                paths_seen = [*result.domains["path"], *result.errors["path"]]
                assert len(paths_seen) == len(set(paths_seen)), "a file reported twice"
                assert sorted(paths_seen) == sorted(map(str, paths)), "files seen != the files there"
                assert result.files == N_FILES
                for p, kind in result.errors.select("path", "kind").iter_rows():
                    assert p not in cold, f"untouched file {p} failed: {kind}"
                    assert kind in TORN_KINDS, (p, kind)
                    seen_kinds[kind] = seen_kinds.get(kind, 0) + 1
                stable = result.domains.filter(pl.col("path").is_in(cold)).sort("path")
                assert stable.equals(baseline), "untouched files came out differently under load"
        # Batch by batch too (bounded memory path).
        total = 0
        for batch in run_with_timeout(lambda: list(virtaudit.scan_batches(root, batch_files=500)), 600):
            total += batch.files
            assert set(batch.errors["kind"]) <= TORN_KINDS
        assert total == N_FILES
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=120)
    assert writer.returncode == 0
    assert int(out.strip() or 0) > 0, "the writer never rewrote anything"
