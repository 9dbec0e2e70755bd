"""The native module's own interface: what ``virtaudit._core`` accepts, beyond what the scan tests read."""

from __future__ import annotations

from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def core() -> ModuleType:
    return pytest.importorskip("virtaudit._core")


LIMITS = {"max_file_size": 1 << 20, "max_depth": 64, "max_elements": 10_000}


def test_limits_are_required_keyword_arguments(core: ModuleType) -> None:
    # The binding gathers them into one Limits value; the keywords stay as they were, all required.
    tables = core.scan_buffers(items=[], jobs=1, **LIMITS)
    assert set(tables) == set(core.TABLE_NAMES)
    with pytest.raises(TypeError, match="max_elements"):
        core.scan_buffers(items=[], jobs=1, max_file_size=1, max_depth=1)
    with pytest.raises(TypeError, match="max_depht"):
        core.scan(["x"], jobs=1, host_mode="parent", host_value=None, max_depht=1, **LIMITS)
    with pytest.raises(TypeError, match="max_file_size, max_depth, max_elements"):
        core.Scanner(["x"], jobs=1, host_mode="parent", host_value=None)


def test_limits_reach_the_parser(core: ModuleType) -> None:
    doc = b"<domain><name>a</name><devices><disk/><disk/><disk/></devices></domain>"
    items = [("h/a.xml", "h", doc)]
    import polars as pl

    ok = core.scan_buffers(items=items, jobs=1, **LIMITS)
    assert pl.DataFrame(ok["domains"]).height == 1
    capped = core.scan_buffers(items=items, jobs=1, **{**LIMITS, "max_elements": 3})
    assert pl.DataFrame(capped["errors"])["kind"].to_list() == ["too_many_elements"]
    shallow = core.scan_buffers(items=items, jobs=1, **{**LIMITS, "max_depth": 1})
    assert pl.DataFrame(shallow["errors"])["kind"].to_list() == ["too_deep"]
    small = core.scan_buffers(items=items, jobs=1, **{**LIMITS, "max_file_size": 10})
    assert pl.DataFrame(small["errors"])["kind"].to_list() == ["too_large"]
