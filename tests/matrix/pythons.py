"""Every CPython on this machine that generated projects claim to support: the
matrix that tests/matrix/test_matrix.py runs each kind of project on.

Looked for on PATH (python3.X, python3.Xt, python3), in pyenv's versions
(~/.pyenv/versions/*/bin) and in /opt/pythons/bin, where ../shared/pythons/install.sh
puts 3.14 and free-threaded 3.14t. One interpreter per version: the first found."""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# What generated projects claim (their requires-python and their workflow's matrix).
SUPPORTED = ("3.10", "3.11", "3.12", "3.13", "3.14", "3.14t")
WHERE = "on PATH, in ~/.pyenv/versions/*/bin or in /opt/pythons/bin"
ASK = (
    "import os, sys; t = '' if getattr(sys, '_is_gil_enabled', lambda: 1)() else 't'; "
    "print(f'{sys.version_info[0]}.{sys.version_info[1]}{t}', sys.version.split()[0], "
    "os.path.realpath(sys.executable))"
)
NAME = re.compile(r"python3(\.[0-9]+t?)?")


@dataclass(frozen=True)
class Python:
    tag: str  # "3.12", or "3.14t" for a free-threaded build
    version: str  # "3.12.1"
    path: str  # the interpreter, as found (not resolved: a venv's python stays one)


def candidates() -> list[str]:
    """Installed interpreters first, then PATH (whose pyenv shims may point to
    one of them, or to a version pyenv has not selected)."""
    found = []
    for folder in ("~/.pyenv/versions/*/bin", "/opt/pythons/bin"):
        found += sorted(glob.glob(os.path.join(os.path.expanduser(folder), "python3*")))
    names = [f"python{tag}" for tag in SUPPORTED] + ["python3"]
    found += [path for path in map(shutil.which, names) if path]
    return [path for path in found if NAME.fullmatch(os.path.basename(path))]


def ask(path: str) -> tuple[str, str, str] | str:
    """(tag, version, resolved executable) of an interpreter, or why it won't run."""
    try:
        done = subprocess.run(
            [path, "-I", "-c", ASK], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"does not run: {exc}"
    words = done.stdout.split(maxsplit=2)
    if done.returncode or len(words) != 3:
        return f"does not run: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    return words[0], words[1], words[2].strip()


@functools.cache
def survey() -> tuple[dict[str, Python], list[tuple[str, str]]]:
    """({tag: Python} of the supported versions found, [(path, why skipped)])."""
    chosen: dict[str, Python] = {}
    failed: dict[str, str] = {}
    skipped: list[tuple[str, str]] = []
    seen = set()  # interpreters asked, resolved: a link or a shim counts once
    for path in candidates():
        if os.path.realpath(path) in seen:
            continue
        seen.add(os.path.realpath(path))
        answer = ask(path)
        if isinstance(answer, str):
            failed[path] = answer
            continue
        tag, version, real = answer
        if real in seen and real != os.path.realpath(path):
            continue  # a shim of one asked already
        seen.add(real)
        if tag not in SUPPORTED:
            skipped.append((path, f"Python {version}: projects need 3.10 or newer"))
        elif tag not in chosen:
            chosen[tag] = Python(tag, version, path)
    for path, why in failed.items():  # a shim of a version found elsewhere is noise
        if os.path.basename(path).removeprefix("python") not in chosen:
            skipped.append((path, why))
    return chosen, skipped


def report() -> list[str]:
    """What the matrix runs on, for the test run's header."""
    chosen, skipped = survey()
    lines = ["matrix of Pythons (tests/matrix/test_matrix.py):"]
    for tag in SUPPORTED:
        python = chosen.get(tag)
        found = f"{python.version} at {python.path}" if python else f"NOT FOUND {WHERE}"
        lines.append(f"  {tag:6} {found}")
    lines += [f"  skipped {path}: {why}" for path, why in skipped]
    if len(chosen) <= 1:
        lines.append(
            "  only one Python: the matrix is that one. More: pyenv install 3.12, "
            "or bash ../shared/pythons/install.sh for 3.14 and 3.14t"
        )
    return lines


def running_tag() -> str:
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return f"{sys.version_info[0]}.{sys.version_info[1]}{'' if gil else 't'}"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
