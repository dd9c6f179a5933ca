"""Where the user's own state lives and what a pid is now: shared by the CLI's first import (flows/warm.py),
the settings and the local Prefect server's supervision. Standard library only: `legatura` loads it first."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path


def user_state_dir() -> Path:
    """The user's own local Prefect server lives here, shared by all their working folders (XDG state home)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "legatura" / "prefect"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child not yet reaped by its parent (a test process) is a zombie: not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def command_line(pid: int) -> list[str]:
    """The process's arguments (from /proc, else `ps`); empty when it is gone or unreadable."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        if Path("/proc/self").exists():
            return []
    try:  # no /proc (macOS): ps prints the command line joined by spaces
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
        return out.stdout.split()
    except (OSError, subprocess.SubprocessError):
        return []
