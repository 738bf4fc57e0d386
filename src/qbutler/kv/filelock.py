"""An exclusive, non-blocking lock on a file, held for a process's lifetime (Linux and Windows).

The sqlite backend keeps a mirror of the database in memory, so exactly one process may write
the file; the operating system drops the lock when that process dies, even on SIGKILL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO


class FileLock:
    def __init__(self, path: Path):
        self.path = path
        self._handle: IO[bytes] | None = None

    def acquire(self) -> bool:
        """True when this process now holds the lock; False when another process does."""
        handle = open(self.path, "a+b")
        try:
            if os.name == "nt":
                import msvcrt

                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            # Closing the handle releases the lock on both platforms.
            self._handle.close()
            self._handle = None
