"""Zstandard streams (``.tar.zst``, sos's default compression on RHEL 9), read like gzip and xz: streamed,
bounded in memory, and a stream cut short or corrupt is an error, never a quiet end.

The decompressor is the ``zstandard`` package (python-zstandard, the binding of the reference C library;
Python reads zstd in its standard library only from 3.14). Its ``stream_reader`` ends quietly at a
stream cut short, so the stream is fed here to a ``decompressobj`` in small pieces: each piece of
:data:`FEED` bytes can come out as at most a few tens of MB (zstd's largest expansion, a run-length block
of 128 KiB per 3-byte header), and the frame must have reached its end when the input does.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO, Final

FEED: Final = 1024
"""Compressed bytes fed at a time (bounds what one step can decompress to: ~43 MiB at most)."""


def zstd_errors() -> tuple[type[BaseException], ...]:
    """The zstandard package's error type (none when the package is missing)."""
    try:
        import zstandard
    except ImportError:
        return ()
    return (zstandard.ZstdError,)


class ZstdReader(io.RawIOBase):
    """The decompressed bytes of a zstd stream (one frame or several), read front to back."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        try:
            import zstandard
        except ImportError as exc:  # (a runtime dependency: only a broken install lacks it)
            raise OSError("zstd-compressed archive, but the zstandard package is not installed") from exc
        self._zstd: Any = zstandard
        self._raw = raw
        self._obj: Any = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._at = 0
        self._in_frame = False
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self._at >= len(self._pending) and not self._done:
            self._step()
        n = min(len(view), len(self._pending) - self._at)
        view[:n] = self._pending[self._at : self._at + n]
        self._at += n
        return n

    def _step(self) -> None:
        chunk = self._raw.read(FEED)
        if not chunk:
            if self._in_frame:
                raise EOFError("zstd stream cut short: its last frame does not end")
            self._done = True
            return
        self._in_frame = True
        out = self._obj.decompress(chunk)
        while self._obj.eof:  # the end of a frame: the next one (if any) starts in its unused data
            rest = self._obj.unused_data
            self._obj = self._zstd.ZstdDecompressor().decompressobj()
            self._in_frame = bool(rest)
            if not rest:
                break
            out += self._obj.decompress(rest)
        self._pending, self._at = out, 0

    def close(self) -> None:
        self._pending, self._at = b"", 0
        super().close()
