"""How inputs name their hosts: the validated --host-* options (a typo is a usage error, never a host
name), and a host's identity never taken over by another input (issue 19)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import REPO_ROOT

FLEET = REPO_ROOT / "examples" / "fleet"
GUESTS = sorted(FLEET.glob("hv-x86-01/*.xml"))[:2]


def invoke(*args: str) -> Any:
    from typer.testing import CliRunner
    from virtaudit.cli import get_app

    return CliRunner().invoke(get_app(), [str(a) for a in args])


def hosts(*args: str) -> set[str]:
    result = invoke("audit", *(str(g) for g in GUESTS), *args, "-f", "json", "--fail-on", "none", "-q")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    return {f["host"] for f in doc["findings"]}


@pytest.mark.parametrize(
    "args",
    [
        ("--host-from", "parnet"),
        ("--host-from", "grandparnet"),
        ("--host-from", "Parent"),
        ("--host-from", "fleet/(hv)-(\\d+)"),
        ("--host-from", "fleet/hv[-"),
        ("--host-from", "fleet/hv-\\w+"),
        ("--host-from", "two words"),
        ("--host-regex", "no-group"),
        ("--host-regex", "(a)(b)"),
        ("--host-name", "a/b"),
        ("--host-name", "parent"),
        ("--host-from-dir", "uncle"),
        ("--host-name", "x", "--host-regex", "(x)"),
        ("--host-from", "parent", "--host-from-dir", "parent"),
    ],
)
def test_a_mistyped_host_naming_is_a_usage_error(args: tuple[str, ...]) -> None:
    result = invoke("audit", str(GUESTS[0]), *args, "-q")
    assert result.exit_code == 2, result.output


def test_the_host_naming_options() -> None:
    assert hosts() == {"hv-x86-01"}
    assert hosts("--host-from-dir", "grandparent") == {"fleet"}
    assert hosts("--host-name", "hv-fixed.example.com") == {"hv-fixed.example.com"}
    assert hosts("--host-regex", r"fleet/hv-(\w+)-\d+/") == {"x86"}
    # --host-from as before
    assert hosts("--host-from", "power-7") == {"power-7"}
    assert hosts("--host-from", "grandparent") == {"fleet"}
    assert hosts("--host-from", r"fleet/hv-(\w+)-\d+/") == {"x86"}
