"""Durability helpers shared by the file writers."""

from __future__ import annotations

import os

__all__ = ["fsync_directory"]


def fsync_directory(directory: str) -> None:
    """Flush a directory entry to disk, where the platform allows it.

    A file created or renamed into ``directory`` survives a power cut only
    once the directory itself is synced (POSIX fsync(2) covers the file's
    data, not the name that points at it).
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        # Windows cannot open a directory; NTFS journals the metadata itself.
        return
    try:
        os.fsync(fd)
    except OSError:
        # Some filesystems refuse fsync on a directory; nothing more can be done.
        pass
    finally:
        os.close(fd)
