"""Results as JSON lines, one per item, written and flushed the moment it finishes,
so a crash, a kill or Ctrl-C keeps everything finished before it.

Every line is strict JSON. Besides what JSON holds (dict with string keys, list,
tuple, str, int, float, bool, None), results may hold: objects with tolist() or
item() (numpy arrays and numbers: written as their values), paths (as strings),
sets (as sorted lists), dates and times (ISO 8601), Decimal and UUID (as
strings), dataclasses (as dicts). Dict keys are written as strings, as JSON has
it ({1: "a"} as {"1": "a"}). A result that cannot be written faithfully (NaN,
infinity, other types, keys JSON cannot name, two keys written alike such as 1
and "1", a circular or too-deep structure) is that item's failure, naming what is
wrong.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

from tqdm import tqdm

from .._engine import Failure, describe

try:
    import fcntl  # Unix: lets us refuse a second run writing the same file
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


def plain(value):
    """json.dumps's `default`: the types above, as JSON can hold them."""
    for method in ("tolist", "item"):  # numpy arrays and scalars
        if callable(getattr(value, method, None)):
            return getattr(value, method)()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"JSON cannot hold a value of type {type(value).__name__}")


def to_json(value) -> str:
    return json.dumps(value, default=plain, allow_nan=False)


def repeated_key(value) -> str | None:
    """A key that two keys of one dict would both be written as ({1: .., "1": ..},
    {True: .., "true": ..}), or None. Call it on a value to_json took: no cycles."""
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                names: set[str] = set()
                for key in value:
                    name = key_name(key)
                    if name in names:
                        return name
                    names.add(name)
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = dataclasses.fields(value)
            stack.extend(getattr(value, field.name) for field in fields)
    return None


def key_name(key) -> str:
    """A dict key as json.dumps writes it (one it took: str, int, float, bool, None)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    return float.__repr__(key) if isinstance(key, float) else int.__repr__(key)


def label(item):
    """How an item is named in the output: a path or a string as it is, a short
    JSON-able item as itself, anything else described in a few words."""
    if isinstance(item, (str, PurePath)):
        return str(item)
    try:
        if len(json.dumps(item, allow_nan=False)) <= 200:
            return item
    except (TypeError, ValueError, RecursionError):
        pass
    return describe(item)


class ResultNotJSON(Exception):
    """A result that cannot be written as JSON faithfully."""


@dataclass
class AsJson:
    """Wraps the loop body so that its result is turned into JSON in the worker:
    a result JSON cannot hold fails there, as that item's failure. A dataclass
    of a module-level function, so worker processes can unpickle it."""

    func: Callable

    def __call__(self, *args) -> str:
        __tracebackhide__ = True  # not in an item's traceback
        result = self.func(*args)
        try:
            text = to_json(result)
            if (key := repeated_key(result)) is not None:
                raise ValueError(f"two keys of one dict would both be {key!r}")
        except (TypeError, ValueError, RecursionError) as exc:
            raise ResultNotJSON(
                f"the result cannot be written as JSON ({exc}): return plain data "
                "(see the README), or convert it in process_item"
            ) from None
        return text


def record_line(index: int, item, outcome, attempts: int | None = None) -> str:
    """The line for one item: its result (JSON text from AsJson), or its error;
    with retries, how many attempts it took."""
    fields = f'"index": {index}, "item": {to_json(label(item))}, '
    if isinstance(outcome, Failure):
        fields += f'"error": {to_json(outcome.error)}'
    else:
        fields += f'"result": {outcome}'
    if attempts is not None:
        fields += f', "attempts": {attempts}'
    return "{" + fields + "}"


class ResultWriter:
    """Writes lines to a stream: stdout. On a terminal, tqdm.write keeps the bar
    intact."""

    def __init__(self, stream):
        self.stream = stream
        self.to_terminal = stream.isatty()
        self.written = 0  # lines written

    def write(self, line: str) -> None:
        if self.to_terminal:
            tqdm.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()
        self.written += 1


class CannotResume(Exception):
    """--resume with a file that does not hold results."""


def cannot_write(option: str, path: Path) -> str | None:
    """Why `option` cannot write a file at path, if it cannot: said before a run."""
    if path.is_dir():
        return f"{option} {path} is a directory; name a file in it"
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        return f"{option} {path}: {folder} is a file, not a folder"
    if not folder.is_dir():
        return f"{option} {path}: no folder {folder}; create it first"
    if not os.access(folder, os.W_OK):
        return f"{option} {path}: cannot write in {folder}"
    return None


class Finished:
    """The items an output file holds a result for, kept small for millions of
    them: a bit per index, and the labels of the items up to LABELLED, which
    --resume compares with the inputs given."""

    LABELLED = 1_000
    # An index past this is no record of ours: its bit would take gigabytes.
    LARGEST_INDEX = 10**10

    def __init__(self) -> None:
        self.bits = bytearray()
        self.count = 0
        self.labels: dict[int, object] = {}
        self.highest = -1

    def add(self, index: int, label) -> None:
        byte, bit = divmod(index, 8)
        if byte >= len(self.bits):
            self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
        if not self.bits[byte] >> bit & 1:
            self.bits[byte] |= 1 << bit
            self.count += 1
        if index < self.LABELLED:
            self.labels[index] = label
        self.highest = max(self.highest, index)

    def discard(self, index: int) -> None:
        if index in self:
            byte, bit = divmod(index, 8)
            self.bits[byte] &= ~(1 << bit)
            self.count -= 1
        self.labels.pop(index, None)

    def __contains__(self, index: int) -> bool:
        byte, bit = divmod(index, 8)
        return byte < len(self.bits) and bool(self.bits[byte] >> bit & 1)

    def __len__(self) -> int:
        return self.count


class OutputFile:
    """--output FILE: checked before anything runs, locked against a second run,
    and only ever appended to: --resume appends the lines of the items still to
    run, so it needs room for those lines only."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = -1  # not open yet
        self.written = 0  # lines written by this run

    def check(self, inputs: list[Path]) -> str | None:
        """What is wrong with writing to this path, if anything."""
        path = self.path
        if problem := cannot_write("--output", path):
            return problem
        if path.exists() and not path.is_file():
            return f"--output {path} is not a regular file (leave it out for stdout)"
        if path.exists():
            for item in inputs:
                if os.path.samefile(path, item):
                    return f"--output {path} is one of the inputs: choose another"
        return None

    def open(self, resume: bool) -> Finished | None:
        """Opens for appending, and with resume returns the items finished before
        (finished_items). Raises BlockingIOError when another run
        holds the file."""
        self.fd = self.locked()
        return self.finished_items() if resume else None

    def locked(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise BlockingIOError(f"another run is writing {self.path}") from None
        return fd

    def write(self, line: str) -> None:
        """Appends one line. A write that fails (a full disk) takes back its
        partial line, so every line in the file stays whole, and raises."""
        data = memoryview((line + "\n").encode("utf-8"))
        start = os.lseek(self.fd, 0, os.SEEK_END)
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError:
            try:
                os.ftruncate(self.fd, start)
            except OSError:
                pass
            raise
        self.written += 1

    def finished_items(self) -> Finished:
        """Reads the file for --resume and cuts off a last line that a kill or a
        full disk left without its end, so that new lines start on a line of their
        own. Returns the items whose latest record is a result. Raises
        CannotResume for a file that is not one of ours."""
        finished = Finished()
        whole = 0  # bytes up to the end of the last whole line
        with self.path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.endswith(b"\n"):
                    break  # the last line, cut short
                whole += len(line)
                try:
                    record = json.loads(line)
                    index = int(record["index"])
                    if not 0 <= index <= Finished.LARGEST_INDEX:
                        raise ValueError(index)
                except (ValueError, TypeError, KeyError):
                    raise CannotResume(
                        f"{self.path} does not look like a results file (line "
                        f"{number} is not a record): choose another --output file"
                    ) from None
                if "result" in record:
                    finished.add(index, record["item"])
                else:  # an error: the item runs again
                    finished.discard(index)
        if whole < os.fstat(self.fd).st_size:
            os.ftruncate(self.fd, whole)
        return finished

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
