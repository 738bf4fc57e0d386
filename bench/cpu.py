"""CPU time of this process and of child processes, for the benches' CPU columns."""

from __future__ import annotations

import os
import resource
from pathlib import Path


def process_cpu(pid: int) -> float:
    """user+system seconds of a running child process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
