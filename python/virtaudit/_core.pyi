"""Type stub of the native module built from rust/virtaudit-python."""

import os
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import final

from typing_extensions import CapsuleType

__version__: str
SCHEMA_VERSION: int
TABLE_NAMES: list[str]
DEFAULT_MAX_FILE_SIZE: int
DEFAULT_MAX_DEPTH: int
DEFAULT_MAX_ELEMENTS: int

class VirtauditError(Exception):
    """A scan could not run at all (per-file problems are error rows)."""

@final
class ArrowTable:
    """One scan table, exported through the Arrow PyCapsule stream interface."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> CapsuleType: ...
    @property
    def num_rows(self) -> int: ...
    def __len__(self) -> int: ...

def scan(
    paths: Sequence[str | os.PathLike[str]],
    *,
    jobs: int | None,
    host_mode: str,
    host_value: str | None,
    max_file_size: int,
    max_depth: int,
    max_elements: int,
) -> dict[str, ArrowTable]: ...
def scan_buffers(
    items: Sequence[tuple[str, str, bytes]],
    *,
    jobs: int | None,
    first_doc_id: int = 0,
    max_file_size: int,
    max_depth: int,
    max_elements: int,
) -> dict[str, ArrowTable]: ...

@final
class Scanner:
    """Batch-by-batch scan with bounded memory."""

    def __new__(
        cls,
        paths: Sequence[str | os.PathLike[str]],
        *,
        jobs: int | None,
        host_mode: str,
        host_value: str | None,
        max_file_size: int,
        max_depth: int,
        max_elements: int,
        caps_flags: Sequence[str] | None = None,
        caps_except: AbstractSet[str] | None = None,
        unmatched_live_only: bool = False,
    ) -> Scanner: ...
    @property
    def input_count(self) -> int: ...
    def next_batch(self, batch_files: int) -> dict[str, ArrowTable] | None: ...

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ELEMENTS",
    "DEFAULT_MAX_FILE_SIZE",
    "SCHEMA_VERSION",
    "TABLE_NAMES",
    "ArrowTable",
    "Scanner",
    "VirtauditError",
    "__version__",
    "scan",
    "scan_buffers",
]
