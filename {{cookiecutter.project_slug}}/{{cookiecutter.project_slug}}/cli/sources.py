"""Where the items come from: files and walked directories, the lines of a file,
or tasks.items()."""

from __future__ import annotations

import argparse
import codecs
import fnmatch
import io
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from .._engine import parse_rate


class InputError(Exception):
    """An input that cannot be used at all: a usage error."""


class FileChoice:
    """Which files of a walked directory are items: those whose name matches one
    of `globs` (all, without any); hidden ones (a name that starts with a dot) and
    those in hidden folders only when `hidden`. Counts what it leaves out."""

    def __init__(self, globs=(), hidden=False):
        self.globs = list(globs)
        self.hidden = hidden
        self.hidden_files = 0  # left out
        self.hidden_folders = 0  # left out, not walked
        self.unmatched = 0  # files left out by --glob

    def enters(self, folder_name: str) -> bool:
        """Whether the walk goes into a folder of that name."""
        if folder_name.startswith(".") and not self.hidden:
            self.hidden_folders += 1
            return False
        return True

    def takes(self, relative: str) -> bool:
        """Whether the file at `relative` (its path under the walked directory,
        with /) is an item. A pattern with a / is matched against that path, any
        other against the file's name (fnmatch: *, ?, [abc])."""
        name = relative.rsplit("/", 1)[-1]
        if name.startswith(".") and not self.hidden:
            self.hidden_files += 1
            return False
        if self.globs and not any(
            fnmatch.fnmatch(relative if "/" in glob else name, glob)
            for glob in self.globs
        ):
            self.unmatched += 1
            return False
        return True

    def left_out(self) -> str:
        """What the walk left out, for the opening line ("" if nothing)."""
        said = []
        if self.hidden_files or self.hidden_folders:
            hidden = [many(self.hidden_files, "hidden file")]
            if self.hidden_folders:
                hidden.append(many(self.hidden_folders, "hidden folder"))
            said.append(" and ".join(hidden) + " (--hidden takes them)")
        if self.unmatched:
            said.append(many(self.unmatched, "file") + " not matching --glob")
        return ", ".join(said)


def many(count: int, thing: str) -> str:
    return f"{count} {thing}" + ("" if count == 1 else "s")


class Input(NamedTuple):
    """The items the command line names, read lazily as the run goes, and how
    many there are where that is cheap and exact to know (None elsewhere)."""

    items: Iterable
    total: int | None


def load_items(args, tasks, warn, unreadable, leave_out=(), choice=None) -> Input:
    """The items the command line names: the lines of --lines FILE, the files
    given (directories walked, their files as `choice` says), or else
    tasks.items(); read as the run goes. Raises InputError, now for what can be
    seen at once (a missing file), or later, as the items are read."""
    if args.lines is not None:
        return Input(read_lines(args.lines), count_lines(args.lines))
    if args.inputs:
        files = collect_files(args.inputs, warn, unreadable, leave_out, choice)
        walks = any(os.path.isdir(path) for path in args.inputs)
        return Input(files, None if walks else len(dict.fromkeys(args.inputs)))
    items = tasks.items()
    return Input(items, len(items) if hasattr(items, "__len__") else None)


def collect_files(paths: list[str], warn, unreadable, leave_out=(), choice=None):
    """Files given and regular files found under the directories given, yielded
    as the walk finds them: each folder's in order of name, no repeats, those
    `choice` (a FileChoice: by default, all but hidden ones) takes, `leave_out`
    (the results file) left out. A file given is always taken.

    Symbolic links to directories are not followed, so a link loop cannot make the
    walk endless; other files that are not regular (a FIFO, a device) would block
    or never end: each is named with warn(message) and skipped. A directory that
    cannot be read is named with unreadable(message). A path that does not exist,
    or a special file named directly, raises InputError at once.
    """
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        raise InputError(
            "no such file or directory (or a broken symbolic link): "
            + ", ".join(missing)
        )
    special = [path for path in paths if not (is_regular(path) or os.path.isdir(path))]
    if special:
        raise InputError(
            "not a regular file or a directory (a device, a FIFO or a socket, "
            "which could block or never end): " + ", ".join(special)
        )
    return walk(paths, warn, unreadable, leave_out, choice or FileChoice())


def walk(paths: list[str], warn, unreadable, leave_out, choice: FileChoice):
    """collect_files' files, as found. No repeats, with no record of every file
    found: a directory inside another one given is walked as part of that one,
    and a file given is not taken again from a walk."""
    left_out = {os.path.realpath(path) for path in leave_out}
    given = {os.path.realpath(path) for path in paths if not os.path.isdir(path)}
    folders = [os.path.realpath(path) for path in paths if os.path.isdir(path)]

    def report(error: OSError) -> None:
        unreadable(f"cannot read {error.filename}: {error.strerror}; files skipped")

    def inside_another(real: str) -> bool:
        return any(real.startswith(folder + os.sep) for folder in folders)

    taken: set[str] = set()  # the files given, and folders walked: few
    for path in paths:
        real = os.path.realpath(path)
        if real in taken:
            continue
        taken.add(real)
        if not os.path.isdir(path):
            yield Path(path)
            continue
        if inside_another(real):
            continue
        for folder, subfolders, names in os.walk(path, onerror=report):
            for name in subfolders:
                if os.path.islink(os.path.join(folder, name)):
                    warn(f"not following symbolic link {os.path.join(folder, name)}")
            subfolders[:] = [name for name in sorted(subfolders) if choice.enters(name)]
            for name in sorted(names):
                file = os.path.join(folder, name)
                real_file = os.path.realpath(file)
                if real_file in left_out or real_file in given:
                    continue
                relative = Path(os.path.relpath(file, path)).as_posix()
                if not choice.takes(relative):
                    continue
                if is_regular(file):
                    yield Path(file)
                else:
                    warn(f"skipping {file}: not a regular file")


def is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def read_lines(path: str):
    """The non-empty lines of a file (`-`: standard input), spaces around each
    one dropped, read as the run goes. UTF-8, with or without the byte-order mark
    that Windows tools write first (Notepad's "UTF-8 with BOM", Excel's "CSV
    UTF-8"), or UTF-16 with its byte-order mark (Notepad's and Excel's
    "Unicode"). A missing file raises InputError at once, a line that cannot be
    decoded when it is read, naming it."""
    if path == "-":
        return decode_lines(sys.stdin.buffer, "standard input")
    if os.path.isdir(path):
        raise InputError(
            f"--lines {path}: a directory; give a file with one item per line "
            "(or the directory itself, without --lines, to run over its files)"
        )
    try:
        open(path, "rb").close()  # a file that cannot be opened: said at once
    except FileNotFoundError:
        raise InputError(f"--lines {path}: no such file") from None
    except OSError as exc:
        raise InputError(f"--lines {path}: cannot read it ({exc.strerror})") from None
    return lines_of(path)


def lines_of(path: str):
    """The lines of the file at `path`, open only while they are read."""
    with open(path, "rb") as stream:
        yield from decode_lines(stream, path)


def count_lines(path: str) -> int | None:
    """How many items --lines FILE holds, counted without decoding: the lines
    with more than spaces, in a regular file of UTF-8 text. None for standard
    input, a pipe, or UTF-16 text: there the bar shows a count and a rate."""
    if path == "-" or not is_regular(path):
        return None
    count, rest = 0, b""
    with open(path, "rb") as stream:
        start = stream.read(4)
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return None
        chunk = start.removeprefix(codecs.BOM_UTF8)
        while chunk:
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            count += sum(1 for line in lines if line.strip())
            chunk = stream.read(1 << 20)
    return count + (1 if rest.strip() else 0)


def decode_lines(stream, name: str):
    if not hasattr(stream, "peek"):  # a stream of bytes of the tests' own
        stream = io.BufferedReader(stream)
    start = stream.peek(4)[:4]
    if start.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise InputError(
            f"{name}: UTF-32 text; convert it to UTF-8, for example with "
            "iconv -f utf-32 -t utf-8"
        )
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        yield from decode_utf16_lines(stream, name)
        return
    for number, raw in enumerate(stream, 1):
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)  # not part of the first item
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{name}, line {number}: not valid UTF-8 (byte {raw[exc.start]:#04x} "
                f"at column {exc.start + 1}); convert the file to UTF-8, for "
                "example with iconv -f cp1252 -t utf-8 (Windows' 'ANSI'; latin1 "
                "elsewhere)"
            ) from None
        if "\0" in line:  # UTF-16 saved without its byte-order mark
            raise InputError(
                f"{name}, line {number}: NUL characters, as in UTF-16 text without "
                "its byte-order mark; convert it to UTF-8, for example with "
                "iconv -f utf-16le -t utf-8"
            )
        if line:
            yield line


def decode_utf16_lines(stream, name: str):
    """The lines of UTF-16 text that starts with its byte-order mark."""
    text = io.TextIOWrapper(stream, encoding="utf-16", newline=None)
    number = 0
    try:
        for line in text:
            number += 1
            if line.strip():
                yield line.strip()
    except UnicodeDecodeError:
        raise InputError(
            f"{name}, line {number + 1}: not valid UTF-16 (it starts with UTF-16's "
            "byte-order mark); save it as UTF-8, or convert it with "
            "iconv -f utf-16 -t utf-8"
        ) from None
    finally:
        text.detach()  # the stream is its opener's to close


def positive_int(text: str) -> int:
    """An argparse type: a whole number from 1 up (--workers, bench's --sample)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 up, not {text!r} (for example: 4)"
        )
    return value


def timeout_seconds(text: str) -> float:
    """An argparse type: a number of seconds from 0 up (--timeout; 0: no limit)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds, or 0 for no limit, not {text!r} "
            "(for example: 30)"
        )
    return value


def megabytes(text: str) -> float:
    """An argparse type: a number of megabytes from 0 up (--max-worker-memory)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a number of megabytes, or 0 for no cap, not {text!r} (for "
            "example: 2000)"
        )
    return value


def items_per_second(text: str) -> float:
    """An argparse type: a rate (--rate): 20, 0.5, 600/min, 1000/h."""
    try:
        per_second = parse_rate(text)
    except ValueError:
        per_second = None
    if per_second is None:
        raise argparse.ArgumentTypeError(
            f"must be a number of items a second (20, 0.5) or per minute or hour "
            f"(600/min, 1000/h), not {text!r}"
        )
    return per_second


def retry_count(text: str) -> int:
    """An argparse type: a whole number from 0 up (--retries)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 up, not {text!r} (for example: 3)"
        )
    return value
