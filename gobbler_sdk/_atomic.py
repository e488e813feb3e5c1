"""Atomic file writes: the one way files are written by the client cache and by the embedded service.

Data goes to a temporary file in the destination directory, which is then renamed over the target, so a
reader never sees a partially written file and a crash leaves at most a stray temporary file.
"""

from __future__ import annotations

import contextlib
import os
import secrets

__all__ = ["atomic_write_bytes", "temp_name"]


def temp_name(directory: str, prefix: str, suffix: str) -> str:
    """Return an unused-looking temporary path in ``directory``.

    Args:
        directory: Where the temporary file will live (the destination's own directory).
        prefix: Start of the file name.
        suffix: End of the file name.

    Returns:
        The path; creating it with ``O_EXCL`` is still the caller's job.
    """
    return os.path.join(directory, f"{prefix}{secrets.randbelow(10**12):012d}{suffix}")


def atomic_write_bytes(
    path: str, data: bytes, *, mode: int = 0o644, prefix: str = ".temp", suffix: str = ".json"
) -> None:
    """Write ``data`` to ``path`` atomically, with exactly ``mode`` (the umask does not apply).

    Args:
        path: Destination file.
        data: Complete new content.
        mode: Permission bits set with an explicit chmod before the rename.
        prefix: Start of the temporary file's name.
        suffix: End of the temporary file's name.

    Raises:
        OSError: When the temporary file cannot be written or renamed; it is removed first.
    """
    directory = os.path.dirname(path) or "."
    while True:
        tmp = temp_name(directory, prefix, suffix)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
