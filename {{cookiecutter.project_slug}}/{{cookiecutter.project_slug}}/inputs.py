"""Turning command-line paths into items: files as they are, directories walked."""

from __future__ import annotations

import os
from pathlib import Path


class InputError(Exception):
    """An input path that cannot be used at all."""


def collect_files(paths: list[str], warn, unreadable) -> list[Path]:
    """Files given and files found under the directories given, sorted, no repeats.

    Symbolic links to directories are not followed, so a link loop cannot make the
    walk endless: each one is named with warn(message). A directory that cannot be
    read is named with unreadable(message) and skipped. A path that does not exist
    raises InputError.
    """
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        raise InputError(
            "no such file or directory (or a broken symbolic link): "
            + ", ".join(missing)
        )

    def report(error: OSError) -> None:
        unreadable(f"cannot read {error.filename}: {error.strerror}; files skipped")

    files = []
    for path in paths:
        if not os.path.isdir(path):
            files.append(Path(path))
            continue
        for folder, subfolders, names in os.walk(path, onerror=report):
            for name in subfolders:
                if os.path.islink(os.path.join(folder, name)):
                    warn(f"not following symbolic link {os.path.join(folder, name)}")
            subfolders.sort()
            files.extend(Path(folder, name) for name in sorted(names))
    return list(dict.fromkeys(files))
