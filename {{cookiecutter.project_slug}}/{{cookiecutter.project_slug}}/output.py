"""Results as JSON lines, one per item, written and flushed the moment it finishes,
so a crash, a kill or Ctrl-C keeps everything finished before it."""

from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from .failures import Failure, short_repr


def label(item) -> str:
    """How an item is named in the output: a path as is, anything else short."""
    return str(item) if isinstance(item, Path) else short_repr(item)


def record(index: int, item, outcome) -> dict:
    if isinstance(outcome, Failure):
        return {"index": index, "item": label(item), "error": outcome.error}
    return {"index": index, "item": label(item), "result": outcome}


class ResultWriter:
    """Writes records to a stream. On a terminal, tqdm.write keeps the bar intact."""

    def __init__(self, stream):
        self.stream = stream
        self.to_terminal = stream.isatty()

    def write(self, rec: dict) -> None:
        line = json.dumps(rec, default=str)  # anything not JSON is written as str()
        if self.to_terminal:
            tqdm.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def read_finished(path: Path) -> tuple[dict[int, str], int]:
    """The items a previous run finished, {index: label}, and how many lines could
    not be read (a run killed mid-write leaves at most one)."""
    finished, unreadable = {}, 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                rec = json.loads(line)
                if "result" in rec:
                    finished[int(rec["index"])] = str(rec["item"])
            except (ValueError, TypeError, KeyError):
                unreadable += 1
    return finished, unreadable


def open_for_append(path: Path):
    """Opens a results file to add to, starting on a fresh line if the last one
    was cut short."""
    stream = path.open("a+", encoding="utf-8")
    if stream.tell() > 0:
        stream.seek(stream.tell() - 1)
        if stream.read(1) != "\n":
            stream.write("\n")
    return stream
