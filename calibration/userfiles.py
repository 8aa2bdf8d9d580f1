"""The one reader of files a user names: scenarios, sweeps, SEM files, surveys, specs, posteriors.

Every user file goes through :func:`read_bytes` or :func:`read_text`, which
refuse with one line (:class:`model.InputError`) anything that is not a
regular file (a folder, a FIFO, a device such as ``/dev/zero``), a file
larger than :data:`MAX_BYTES`, and text that is not UTF-8. A FIFO is opened
without blocking and refused before anything is read from it, so no reader
hangs or fills memory whatever path it is given.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from egov_abm.model import InputError

#: Largest user file read, in bytes (the shipped files are well under 1 MB).
MAX_BYTES = 64 * 1024 * 1024


def _size_text(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB" if n >= 1024 * 1024 else f"{n:,} bytes"


def read_bytes(path: Path | str, what: str = "file", *, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Args:
        path: the file a user named.
        what: what the file is, for the message ("the survey", "scenario file").
        limit: largest size accepted, in bytes [default: :data:`MAX_BYTES`].

    Raises:
        InputError: one line naming the file: missing, unreadable, not a
            regular file, or larger than ``limit``.
    """
    path = Path(path)
    limit = MAX_BYTES if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a pipe" if stat.S_ISFIFO(info.st_mode) else (
                "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a special file")
            raise InputError(f"{path}: {what} is {kind}, not a regular file")
        if info.st_size > limit:
            raise InputError(f"{path}: {what} is {_size_text(info.st_size)}; at most {_size_text(limit)} is read")
        chunks, total = [], 0
        while True:  # a file that grows while read is cut off at the limit, not read on without end
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise InputError(f"{path}: {what} is larger than {_size_text(limit)}, the most that is read")
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror})") from None
    finally:
        os.close(fd)


def read_text(path: Path | str, what: str = "file", *, hint: str = "", limit: int | None = None) -> str:
    """The UTF-8 text of the regular file ``path`` (a leading byte-order mark is dropped).

    Args:
        path: the file a user named.
        what: what the file is, for the message.
        hint: appended to the message of a file that is not UTF-8 (e.g. "; save it as UTF-8 CSV").
        limit: largest size accepted, in bytes [default: :data:`MAX_BYTES`].

    Raises:
        InputError: as :func:`read_bytes`, or the bytes are not UTF-8.
    """
    data = read_bytes(path, what, limit=limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: {what} is not UTF-8 text (byte {exc.start}){hint}") from None


def read_json(path: Path | str, what: str = "file") -> object:
    """The parsed JSON of the user file ``path`` (read by :func:`read_text`).

    Raises:
        InputError: one line naming the file: unreadable (as :func:`read_text`), or not valid JSON.
    """
    try:
        return json.loads(read_text(path, what))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise InputError(f"{path}: not valid JSON (nested too deeply)") from None
