"""How a scan names the host of each file: the argument users give (``host_from``) and the core's form of it.

Kept apart from :mod:`virtaudit.scanning` because it needs no polars: the command line checks
``--host-from`` and starts scanning before polars is imported.
"""

from __future__ import annotations

import re

__all__ = ["HostFrom", "host_mode"]

HostFrom = str | re.Pattern[str] | None


def host_mode(host_from: HostFrom) -> tuple[str, str | None]:
    """How the core should name hosts.

    ``None`` or ``"parent"``: the directory holding the file; ``"grandparent"``: the one above it;
    a compiled pattern, or a string with exactly one capture group: the group matched against the path;
    any other string: that fixed name for every file.
    """
    if host_from is None or host_from == "parent":
        return "parent", None
    if host_from == "grandparent":
        return "grandparent", None
    if isinstance(host_from, re.Pattern):
        if host_from.groups != 1:
            raise ValueError("a host_from pattern needs exactly one capture group")
        return "regex", host_from.pattern
    if "(" in host_from:
        try:
            groups = re.compile(host_from).groups
        except re.error:
            groups = 0
        if groups == 1:
            return "regex", host_from
    return "fixed", host_from
