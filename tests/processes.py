"""Starting Python and commands, and waiting for the processes they start: shared
by the template's tests, the engine's and the matrix's."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def run(*args, cwd=None, timeout=300, env=None):
    """Runs this Python with args, and returns what it did (output as text). env
    changes the environment."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )


# Starts Python with SIGINT ignored, as a shell starts a command run in the
# background (`python -m pytest &`): a project's tests must pass that way too.
IGNORING_CTRL_C = (
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
)


def tool(name: str) -> str | None:
    """A command installed beside this Python (in its virtual environment)."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(
        name
    )


def wait_for(condition, timeout=60, what="the run"):
    """Waits for an event, checking often, with a generous deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def processes_in_session(session) -> list[int]:
    """Live (not zombie) processes of a session (Linux: /proc): those of a process
    started with start_new_session=True (its id), whatever group they are in (each
    worker process has its own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found
