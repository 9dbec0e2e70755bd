"""``python -m virtaudit.cli``: the ``virtaudit`` command."""

import sys

from virtaudit.cli import main

sys.exit(main())
