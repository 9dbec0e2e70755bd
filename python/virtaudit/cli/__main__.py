"""``python -m virtaudit.cli``: the ``virtaudit`` command."""

from virtaudit.cli import script

script()
