"""The command line, in this process, with the loop body of fake_tasks.py."""

import codecs
import dataclasses
import datetime
import decimal
import io
import json
import os
import random
import re
import shlex
import sys
import threading
import uuid
from pathlib import Path, PurePosixPath

import fake_tasks
import pytest

from {{ cookiecutter.project_slug }}.cli import (
    main,
    running,
)
from {{ cookiecutter.project_slug }}.cli.output import (
    AsJson,
    ResultNotJSON,
    label,
    to_json,
)
from {{ cookiecutter.project_slug }}.cli.sources import (
    collect_files,
)


def cli(*args):
    return main(["--no-progress", *map(str, args)], tasks=fake_tasks)


def records(text):
    """The JSON lines, parsed strictly: NaN or Infinity would fail here."""

    def no_constants(name):
        raise ValueError(f"not strict JSON: {name}")

    return [json.loads(line, parse_constant=no_constants) for line in text.splitlines()]


def names_in(text):
    """The names of the files in the output, in the order of the items."""
    in_order = sorted(records(text), key=lambda record: record["index"])
    return [Path(record["item"]).name for record in in_order]


def by_index(text):
    return {r["index"]: r.get("result", r.get("error")) for r in records(text)}


def usage_error(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exit:
        cli(*args)
    assert exit.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("how", [[], ["--pattern", "submit"], ["--serial"]])
def test_files_and_walked_directories(tmp_path, make_files, capsys, pool, how):
    a, b, c = make_files("a", "bb", "ccc")
    sub = tmp_path / "sub"
    (sub / "deeper").mkdir(parents=True)
    (sub / "z.txt").write_text("zzzzz")
    (sub / ".hidden").write_text("hh")
    (sub / "deeper" / "d.txt").write_text("dddd")
    assert cli(a, sub, c, b, a, "--pool", pool, *how) == 0
    out, err = capsys.readouterr()
    found = {r["index"]: (Path(r["item"]).name, r["result"]) for r in records(out)}
    assert found == {  # a folder's files (sorted), then its folders'; no repeats
        0: ("item0000.txt", 1),
        1: ("z.txt", 5),
        2: ("d.txt", 4),
        3: ("item0002.txt", 3),
        4: ("item0001.txt", 2),
    }
    assert "left out: 1 hidden file (--hidden takes them)" in err
    assert "done: 5 of 5 items" in err and "0 failed" in err


def test_a_walk_leaves_out_hidden_files_and_folders_unless_asked(tmp_path, capsys):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    for name in ("a.csv", ".DS_Store", "README.txt"):
        (tmp_path / name).write_text("x")
    assert cli(tmp_path) == 0
    out, err = capsys.readouterr()
    assert names_in(out) == ["README.txt", "a.csv"]
    said = "left out: 1 hidden file and 1 hidden folder (--hidden takes them)"
    assert said in err
    assert cli(tmp_path, "--hidden") == 0
    out, err = capsys.readouterr()
    assert names_in(out) == [".DS_Store", "README.txt", "a.csv", "HEAD"]
    assert "left out" not in err
    assert cli(tmp_path / ".DS_Store") == 0  # a file named is always taken
    assert names_in(capsys.readouterr().out) == [".DS_Store"]


def test_glob_chooses_the_files_of_walked_directories(tmp_path, capsys):
    (tmp_path / "2024").mkdir()
    for name in ("a.csv", "b.CSV", "notes.txt", "2024/c.csv", "2024/d.tsv"):
        (tmp_path / name).write_text("x")
    assert cli(tmp_path, "--glob", "*.csv") == 0
    out, err = capsys.readouterr()
    assert names_in(out) == ["a.csv", "c.csv"]
    assert "left out: 3 files not matching --glob" in err
    assert cli(tmp_path, "--glob", "*.json") == 0  # none: says what was left out
    said = "nothing to do (left out: 5 files not matching --glob)"
    assert said in capsys.readouterr().err
    assert cli(tmp_path, "--glob", "*.csv", "--glob", "*.tsv") == 0  # either one
    out = capsys.readouterr().out
    assert names_in(out) == ["a.csv", "c.csv", "d.tsv"]
    assert cli(tmp_path, "--glob", "2024/*") == 0  # a path under the directory
    out = capsys.readouterr().out
    assert names_in(out) == ["c.csv", "d.tsv"]
    assert cli(tmp_path / "notes.txt", tmp_path, "--glob", "*.tsv") == 0  # named: taken
    out = capsys.readouterr().out
    assert names_in(out) == ["notes.txt", "d.tsv"]


def test_a_file_unlike_the_others_that_fails_gets_the_glob_hint(tmp_path, capsys):
    for name in ("a.csv", "b.csv", "c.csv"):
        (tmp_path / name).write_text("x")
    (tmp_path / "README.txt").write_text("fail")
    assert cli(tmp_path, "--pool", "thread") == 1
    err = capsys.readouterr().err
    assert "README.txt) failed: ValueError" in err
    assert "Not one of your files? --glob '*.csv' takes only those" in err


def test_glob_and_hidden_need_a_directory(tmp_path, capsys):
    listing = tmp_path / "items.txt"
    listing.write_text("a\n")
    for option in (["--glob", "*.csv"], ["--hidden"]):
        err = usage_error(capsys, "--lines", listing, *option)
        assert "choose files of the directories given: name a directory" in err


def test_a_walk_is_sorted_whatever_order_the_disk_lists_it_in(tmp_path):
    names = [f"{number:02d}.txt" for number in range(20)]
    folders = [f"dir{number:02d}" for number in range(10)]
    shuffle = random.Random(9)
    shuffle.shuffle(names)  # created out of order: a disk may list them so
    shuffle.shuffle(folders)
    for name in names:
        (tmp_path / name).write_text("x")
    for folder in folders:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "f.txt").write_text("x")
    files = list(collect_files([str(tmp_path)], print, print))
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        *sorted(names),
        *(f"{folder}/f.txt" for folder in sorted(folders)),
    ]


def test_lines_of_a_file_are_the_items(tmp_path, capsys):
    listing = tmp_path / "urls.txt"
    listing.write_text("http://a.example/x\n\n  bb  \r\nccc")
    assert cli("--lines", listing, "--pool", "thread") == 0
    assert by_index(capsys.readouterr().out) == {0: 18, 1: 2, 2: 3}


def test_lines_from_standard_input(monkeypatch, capsys):
    stdin = io.TextIOWrapper(io.BytesIO(b"1\n2\n3\n4\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert cli("--lines", "-", "--pattern", "submit") == 0
    found = records(capsys.readouterr().out)
    assert sorted((r["index"], r["item"]) for r in found) == [
        (0, "1"),
        (1, "2"),
        (2, "3"),
        (3, "4"),
    ]


# How Windows tools save a list: Notepad's "UTF-8 with BOM" and Excel's "CSV UTF-8"
# put UTF-8's byte-order mark first; their "Unicode" is UTF-16 with its own.
SAVED_ON_WINDOWS = {
    "utf-8 with bom": codecs.BOM_UTF8 + b"SKU-1001\r\nSKU-1002\r\n",
    "utf-16 le": codecs.BOM_UTF16_LE + "SKU-1001\r\nSKU-1002\r\n".encode("utf-16-le"),
    "utf-16 be": codecs.BOM_UTF16_BE + "SKU-1001\r\nSKU-1002\r\n".encode("utf-16-be"),
}


@pytest.mark.parametrize("saved_as", SAVED_ON_WINDOWS)
def test_lines_saved_on_windows_are_read_as_written(tmp_path, capsys, saved_as):
    listing = tmp_path / "skus.txt"
    listing.write_bytes(SAVED_ON_WINDOWS[saved_as])
    assert cli("--lines", listing, "--pool", "thread") == 0
    found = records(capsys.readouterr().out)
    assert sorted(record["item"] for record in found) == ["SKU-1001", "SKU-1002"]


def test_a_byte_order_mark_on_standard_input_is_dropped(monkeypatch, capsys):
    saved = codecs.BOM_UTF8 + b"SKU-1001\r\nSKU-1002\r\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(saved)))
    assert cli("--lines", "-", "--pool", "thread") == 0
    found = records(capsys.readouterr().out)
    assert sorted(record["item"] for record in found) == ["SKU-1001", "SKU-1002"]


def test_utf32_and_broken_utf16_are_named(tmp_path, capsys):
    listing = tmp_path / "skus.txt"
    listing.write_bytes(codecs.BOM_UTF32_LE + "SKU-1001\n".encode("utf-32-le"))
    assert "UTF-32 text; convert it to UTF-8" in usage_error(capsys, "--lines", listing)
    listing.write_bytes(codecs.BOM_UTF16_LE + "ok\n".encode("utf-16-le") + b"\x00\xd8")
    assert cli("--lines", listing) == 1  # line 1 ran: the input ends at line 2
    err = capsys.readouterr().err
    assert "line 2: not valid UTF-16" in err and "iconv -f utf-16" in err


def test_an_empty_lines_file_has_nothing_to_do(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert cli("--lines", empty) == 0
    assert "nothing to do" in capsys.readouterr().err


def test_lines_that_are_not_utf8_are_named(tmp_path, capsys):
    listing = tmp_path / "latin1.txt"
    listing.write_bytes("café\n".encode("cp1252"))  # as Windows' "ANSI" saves it
    err = usage_error(capsys, "--lines", listing)  # on the first line: before a run
    assert "line 1: not valid UTF-8" in err and "iconv -f cp1252 -t utf-8" in err
    # Further on, the lines read before run to their end, and --resume goes on.
    listing.write_bytes(b"ok\nfine\ncaf\xe9\n")
    out = tmp_path / "out.jsonl"
    assert cli("--lines", listing, "--output", out) == 1
    err = capsys.readouterr().err
    assert "error: " in err and "line 3: not valid UTF-8" in err
    assert f"2 of 3 items finished; their results are in {out}" in err
    assert "to go on: " in err and err.rstrip().endswith("--resume")
    assert sorted(by_index(out.read_text())) == [0, 1]
    listing.write_text("ok\nfine\ncafé\n")  # converted, as the message says
    assert cli("--lines", listing, "--output", out, "--resume") == 0
    assert sorted(by_index(out.read_text())) == [0, 1, 2]


def test_items_that_raise_as_they_are_read_end_the_run_saying_so(
    tmp_path, capsys, monkeypatch
):
    def items():
        yield "a"
        yield "bb"
        raise RuntimeError("database went away")

    monkeypatch.setattr(fake_tasks, "items", items)
    monkeypatch.setattr(fake_tasks, "process_item", len)
    out = tmp_path / "out.jsonl"
    assert cli("--output", out) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: database went away" in err and "tasks.items()" in err
    assert "reading the items stopped after 2" in err
    assert by_index(out.read_text()) == {0: 1, 1: 2}  # both read, both written


def test_utf16_without_its_byte_order_mark_is_named(tmp_path, capsys):
    listing = tmp_path / "skus.txt"
    listing.write_bytes("SKU-1001\nSKU-1002\n".encode("utf-16-le"))
    err = usage_error(capsys, "--lines", listing)
    assert "line 1: NUL characters, as in UTF-16 text without its byte-order" in err
    assert "iconv -f utf-16le -t utf-8" in err


def test_a_missing_lines_file_is_a_usage_error(tmp_path, capsys):
    assert "no such file" in usage_error(capsys, "--lines", tmp_path / "nope.txt")


def test_with_no_inputs_tasks_items_run(capsys):
    assert cli("--pool", "thread") == 0
    assert by_index(capsys.readouterr().out) == {0: 1, 1: 2, 2: 3}


def test_labels_say_what_each_item_is():
    assert label(Path("data/a.csv")) == "data/a.csv"
    assert label("http://a.example") == "http://a.example"
    assert label({"id": 3}) == {"id": 3}  # JSON-able: as itself
    assert label(object()).startswith("<object object at")
    assert label(b"\x00" * 10**6) == "bytes of 1000000 bytes"
    long = label(list(range(10**4)))
    assert len(long) <= 80 and long.startswith("[0, 1, 2") and long.endswith("9999]")


class Vector:
    """Like a numpy array: written as its values, never its str()."""

    def tolist(self):
        return list(range(2000))


def unwritable(item):
    circular = []
    circular.append(circular)
    deep = []
    for _ in range(100_000):
        deep = [deep]
    return {
        "nan": float("nan"),
        "inf": float("inf"),
        "tuple key": {(1, 2): 3},
        "circular": circular,
        "deep": deep,
        "object": object(),
        "vector": Vector(),
        "plain": {"a": [1, 2.5, None, True]},
        "keys alike": [{"x": {True: 1, "true": 2}}],  # both would be "true"
    }[item]


@dataclasses.dataclass
class Point:
    x: int
    y: float


def test_other_types_are_written_as_the_readme_says():
    when = datetime.datetime(2024, 5, 6, 7, 8, 9)
    result = {
        "path": PurePosixPath("data/a.csv"),
        "set": {8, 1, 2},  # a set of small ints lists 8 first
        "date": when.date(),
        "datetime": when,
        "time": when.time(),
        "decimal": decimal.Decimal("1.10"),
        "uuid": uuid.UUID(int=1),
        "dataclass": Point(1, 2.5),
        "tuple": (1, "a"),
    }
    assert json.loads(to_json(result)) == {
        "path": "data/a.csv",
        "set": [1, 2, 8],
        "date": "2024-05-06",
        "datetime": "2024-05-06T07:08:09",
        "time": "07:08:09",
        "decimal": "1.10",
        "uuid": "00000000-0000-0000-0000-000000000001",
        "dataclass": {"x": 1, "y": 2.5},
        "tuple": [1, "a"],
    }


@pytest.mark.parametrize("keep_going", [True, False])
def test_every_line_is_strict_json_and_unwritable_results_are_failures(
    tmp_path, capsys, monkeypatch, keep_going
):
    monkeypatch.setattr(fake_tasks, "process_item", unwritable)
    listing = tmp_path / "kinds.txt"
    names = ["plain", "nan", "inf", "tuple key", "circular", "deep", "object", "vector"]
    names.append("keys alike")
    listing.write_text("\n".join(names))
    flags = ["--keep-going"] if keep_going else []
    assert cli("--lines", listing, "--pool", "thread", "--workers", "1", *flags) == 1
    out, err = capsys.readouterr()
    found = by_index(out)  # strict JSON, or this fails
    assert found[0] == {"a": [1, 2.5, None, True]}
    if not keep_going:
        assert "item #1 (nan) failed: ResultNotJSON" in err
        return
    assert found[7] == list(range(2000))
    for index in [*range(1, 7), 8]:
        assert "cannot be written as JSON" in found[index], found[index]
    assert "would both be 'true'" in found[8]
    assert "7 failed" in err


def test_a_failing_item_stops_the_run_and_says_which(make_files, capsys, pool):
    files = make_files("a", "fail", "c")
    assert cli(*files, "--pool", pool, "--workers", "1") == 1
    err = capsys.readouterr().err
    # A long path is cut in the middle (a temporary folder on macOS is long).
    named = r"item #1 \([^)\n]*item0001\.txt\) failed: ValueError: cannot process"
    assert re.search(named, err), err
    assert "Traceback" in err and "raise ValueError" in err  # the worker's traceback
    assert "--keep-going" in err


def test_keep_going_says_each_failure_once_and_the_first_traceback(
    make_files, capsys, pool
):
    files = make_files("a", "fail", "c", "fail")
    assert cli(*files, "--pool", pool, "--keep-going") == 1
    out, err = capsys.readouterr()
    assert sorted(r["index"] for r in records(out) if "result" in r) == [0, 2]
    assert "done: 2 of 4 items" in err and "2 failed: 2 ValueError (each said" in err
    assert 'their lines on stdout have an "error"' in err
    assert err.count("item #1 (") == 1 and err.count("item #3 (") == 1  # once each
    assert err.count("Traceback") == 1 and err.count(" raised:\n") == 1  # the first's
    assert "to run the failed items again" not in err  # no --output: nothing to go on


def test_every_traceback_at_log_level_debug(tmp_path, capsys):
    listing = tmp_path / "fails.txt"
    listing.write_text("fail\n" * 5)
    options = ["--keep-going", "--pool", "thread", "--log-level", "DEBUG"]
    assert cli("--lines", listing, *options) == 1
    assert capsys.readouterr().err.count("Traceback") == 5


def test_the_engines_advice_is_said_in_options():
    from {{ cookiecutter.project_slug }}.cli.running import in_option_terms

    advice = 'the thread pool (pool="thread"); max_workers=1, or run_serial'
    said = "the thread pool (--pool thread); --workers 1, or --serial"
    assert in_option_terms(advice) == said


def test_workers_sets_how_many_items_run_at_once(tmp_path, capsys, monkeypatch):
    meeting = threading.Barrier(3, timeout=30)

    def meet(item):
        meeting.wait()  # BrokenBarrierError unless three items run at once
        return 1

    monkeypatch.setattr(fake_tasks, "process_item", meet)  # threads: no pickling
    listing = tmp_path / "three.txt"
    listing.write_text("a\nb\nc\n")
    assert cli("--lines", listing, "--pool", "thread", "--workers", "3") == 0
    assert "3 worker(s) (--workers)" in capsys.readouterr().err


def test_resume_appends_and_the_last_line_of_each_index_is_its_outcome(
    make_files, tmp_path, capsys
):
    files = make_files("a", "fail", "c")
    out = tmp_path / "results.jsonl"
    assert cli(*files, "--keep-going", "--output", out) == 1
    before = out.read_bytes()
    files[1].write_text("fixed")
    err = capsys.readouterr().err
    given = shlex.join(map(str, ["--no-progress", *files, "--keep-going"]))
    given += f" --output {out}"
    again = f"python -m {{ cookiecutter.project_slug }} {given} --resume"
    assert f"to run the failed items again: {again}\n" in err
    assert cli(*files, "--output", out, "--resume") == 0
    stdout, err = capsys.readouterr()
    assert stdout == ""  # with --output, nothing on stdout
    assert "running 1 items (2 of 3 done before)" in err
    assert "done: 1 of 1 items" in err  # only item #1 ran
    after = out.read_bytes()
    assert after.startswith(before)  # appended: nothing before it is rewritten
    lines = records(after.decode()[len(before) :])
    assert [(r["index"], r["result"]) for r in lines] == [(1, 5)]
    assert by_index(out.read_text()) == {0: 1, 1: 5, 2: 1}  # the last line wins


def test_an_interrupted_run_says_the_command_that_goes_on(
    tmp_path, capsys, monkeypatch
):
    def ctrl_c_at_bb(item):
        if item == "bb":
            raise KeyboardInterrupt
        return len(item)

    monkeypatch.setattr(fake_tasks, "process_item", ctrl_c_at_bb)
    listing, out = tmp_path / "items.txt", tmp_path / "out.jsonl"
    listing.write_text("a\nbb\nccc\n")
    assert cli("--lines", listing, "--serial", "--output", out) == 130
    err = capsys.readouterr().err
    assert f"interrupted: 1 of 3 items finished; their results are in {out}" in err
    given = shlex.join(map(str, ["--no-progress", "--lines", listing, "--serial"]))
    go_on = f"python -m {{ cookiecutter.project_slug }} {given} --output {out} --resume"
    assert err.endswith(f"to go on: {go_on}\n")
    monkeypatch.setattr(fake_tasks, "process_item", len)
    assert main(shlex.split(go_on)[3:], tasks=fake_tasks) == 0  # it does go on
    assert "running 2 items (1 of 3 done before)" in capsys.readouterr().err
    assert by_index(out.read_text()) == {0: 1, 1: 2, 2: 3}


def test_an_existing_output_file_is_not_overwritten(make_files, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    out.write_text('{"index": 0, "item": "x", "result": 1}\n')
    assert "--resume" in usage_error(capsys, *make_files("a"), "--output", out)
    assert out.read_text() == '{"index": 0, "item": "x", "result": 1}\n'


def test_output_problems_are_usage_errors_before_anything_runs(
    make_files, tmp_path, capsys
):
    files = make_files("a")
    missing = tmp_path / "no" / "such" / "r.jsonl"
    assert "no folder" in usage_error(capsys, *files, "--output", missing)
    assert "a directory" in usage_error(capsys, *files, "--output", tmp_path)
    assert "not a folder" in usage_error(
        capsys, *files, "--output", files[0] / "r.jsonl"
    )
    err = usage_error(capsys, *files, "--output", files[0], "--resume")
    assert "one of the inputs" in err
    assert files[0].read_text() == "a"
    if os.path.exists("/dev/full"):
        assert "not a regular file" in usage_error(
            capsys, *files, "--output", "/dev/full"
        )


def test_the_lines_file_is_never_the_output(tmp_path, capsys):
    listing = tmp_path / "items.txt"
    listing.write_text("a\nbb\n")
    err = usage_error(capsys, "--lines", listing, "--output", listing, "--resume")
    assert "one of the inputs" in err
    assert listing.read_text() == "a\nbb\n"


def test_resume_refuses_a_file_that_holds_no_results(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("my notes\nkeep them\n")
    err = usage_error(capsys, tmp_path, "--output", tmp_path / "notes.txt", "--resume")
    assert "does not look like a results file" in err
    assert (tmp_path / "notes.txt").read_text() == "my notes\nkeep them\n"


def test_an_output_file_in_a_walked_directory_is_not_an_item(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("a")
    out = tmp_path / "results.jsonl"
    assert cli(tmp_path, "--output", out) == 0
    assert cli(tmp_path, "--output", out, "--resume") == 0
    said = f"nothing to do: {out} holds a result for each of the 1 items"
    assert said in capsys.readouterr().err
    assert [r["item"] for r in records(out.read_text())] == [str(tmp_path / "a.txt")]


@pytest.mark.skipif(sys.platform == "win32", reason="file locks are Unix here")
def test_a_second_run_on_the_same_output_is_refused(make_files, tmp_path, capsys):
    import fcntl

    out = tmp_path / "results.jsonl"
    with out.open("a") as first_run:
        fcntl.flock(first_run, fcntl.LOCK_EX)
        err = usage_error(capsys, *make_files("a"), "--output", out, "--resume")
    assert "another run is writing" in err
    assert out.read_text() == ""


def test_resume_needs_an_output_file(capsys):
    assert "--resume needs --output" in usage_error(capsys, "--resume")


def test_resume_refuses_a_file_of_other_inputs(make_files, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    out.write_text('{"index": 0, "item": "/elsewhere/x.txt", "result": 1}\n')
    err = usage_error(capsys, *make_files("a"), "--output", out, "--resume")
    assert "other inputs" in err


def test_resume_after_a_line_cut_short(make_files, tmp_path, capsys):
    files = make_files("a", "bb")
    out = tmp_path / "results.jsonl"
    line = json.dumps({"index": 0, "item": str(files[0]), "result": 1})
    out.write_text(line + '\n{"index": 1, "ite')  # killed mid-write
    assert cli(*files, "--output", out, "--resume") == 0
    again = json.dumps({"index": 1, "item": str(files[1]), "result": 2})
    assert out.read_text() == line + "\n" + again + "\n"  # cut off, then appended


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_worker_counts_are_usage_errors(value, capsys):
    err = usage_error(capsys, "--workers", value)
    assert f"must be a whole number from 1 up, not '{value}'" in err


def test_a_missing_input_is_a_usage_error(tmp_path, capsys):
    assert "no such file or directory" in usage_error(capsys, tmp_path / "nope.txt")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_refused_or_skipped(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("a")
    os.mkfifo(tmp_path / "pipe")  # reading it would block forever
    assert cli(tmp_path) == 0
    out, err = capsys.readouterr()
    assert "skipping" in err and "pipe" in err
    assert [r["result"] for r in records(out)] == [1]
    assert "not a regular file" in usage_error(capsys, tmp_path / "pipe")


def test_empty_input_has_nothing_to_do(tmp_path, capsys):
    assert cli(tmp_path) == 0
    assert "nothing to do" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges")
def test_symlink_loops_and_broken_links_do_not_hang_or_crash(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "loop").symlink_to(tmp_path)  # a directory containing itself
    (tmp_path / "broken.txt").symlink_to(tmp_path / "missing.txt")
    assert cli(tmp_path, "--keep-going") == 0
    out, err = capsys.readouterr()
    assert "not following symbolic link" in err
    assert "skipping" in err and "broken.txt" in err
    assert [r["result"] for r in records(out)] == [1]


def test_an_unreadable_directory_is_reported_and_fails_the_run(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / "locked").mkdir()
    (tmp_path / "a.txt").write_text("a")
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    problems = []
    files = list(collect_files([str(tmp_path)], print, problems.append))
    assert [f.name for f in files] == ["a.txt"]
    locked = tmp_path / "locked"
    assert problems == [f"cannot read {locked}: Permission denied; files skipped"]
    assert cli(tmp_path) == 1  # the item ran, but an input was not read
    out, err = capsys.readouterr()
    assert [r["result"] for r in records(out)] == [1] and "Permission denied" in err
    assert cli(locked) == 1  # nothing could be read: nothing to do, and a failure
    assert "nothing to do" in capsys.readouterr().err


def test_tasks_max_workers_sets_the_count_and_the_default_says_so(
    tmp_path, capsys, monkeypatch
):
    meeting = threading.Barrier(3, timeout=30)

    def meet(item):
        meeting.wait()  # BrokenBarrierError unless three items run at once
        return 1

    monkeypatch.setattr(fake_tasks, "process_item", meet)
    monkeypatch.setattr(fake_tasks, "MAX_WORKERS", 3)
    listing = tmp_path / "three.txt"
    listing.write_text("a\nb\nc\n")
    assert cli("--lines", listing, "--pool", "thread") == 0
    assert "3 worker(s) (tasks.MAX_WORKERS)" in capsys.readouterr().err

    monkeypatch.setattr(fake_tasks, "MAX_WORKERS", None)
    monkeypatch.setattr(running, "default_max_workers", lambda: 1)
    monkeypatch.setattr(fake_tasks, "process_item", len)
    assert cli("--lines", listing, "--pool", "process") == 0
    err = capsys.readouterr().err
    assert "1 worker(s) (the default: half the CPUs; try --workers N)" in err
    assert cli("--lines", listing, "--pool", "thread") == 0  # a figure for waiting
    err = capsys.readouterr().err
    assert "1 worker(s) (the default: half the CPUs; work that waits takes more " in err
    assert "try --workers 16, or measure with bench)" in err


def flaky(item):
    """Fails with a LookupError the first two times it sees an item."""
    seen = Path(item)
    tries = int(seen.read_text() or 0) + 1
    seen.write_text(str(tries))
    if tries <= 2:
        raise LookupError(f"try {tries}")
    return tries


@pytest.mark.parametrize("retry_on", [(LookupError,), (ConnectionError,)])
def test_tasks_retries_and_retry_on_reach_the_command_line(
    tmp_path, capsys, monkeypatch, retry_on
):
    monkeypatch.setattr(fake_tasks, "process_item", flaky)
    monkeypatch.setattr(fake_tasks, "RETRIES", 2, raising=False)
    monkeypatch.setattr(fake_tasks, "RETRY_ON", retry_on, raising=False)
    item = tmp_path / "counts.txt"
    item.write_text("")
    code = cli(item, "--pool", "thread", "--keep-going")
    out, err = capsys.readouterr()
    (record,) = records(out)
    if retry_on == (LookupError,):  # tried 3 times: the third time it works
        assert code == 0 and record["result"] == 3 and record["attempts"] == 3
        assert "0 failed; 1 took more than one attempt (--retries)" in err
    else:  # not an error to retry: it fails at once
        assert code == 1 and record["error"].startswith("LookupError: try 1")
        assert record["attempts"] == 1 and "took more than one" not in err


def test_a_failure_after_its_retries_says_how_many_attempts(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(fake_tasks, "process_item", flaky)
    monkeypatch.setattr(fake_tasks, "RETRY_ON", (LookupError,), raising=False)
    item = tmp_path / "counts.txt"
    item.write_text("")
    assert cli(item, "--pool", "thread", "--keep-going", "--retries", "1") == 1
    err = capsys.readouterr().err
    assert "failed: LookupError: try 2 (after 2 attempts)" in err
    assert "1 failed: 1 LookupError (each said above" in err


def test_no_progress_turns_the_bar_off(make_files, capsys, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    files = make_files("a", "bb", "ccc")
    assert main([*map(str, files), "--pool", "thread"], tasks=fake_tasks) == 0
    assert "3/3" in capsys.readouterr().err  # the bar, as it ends
    assert cli(*files, "--pool", "thread") == 0  # cli() passes --no-progress
    assert "3/3" not in capsys.readouterr().err


def test_files_and_lines_together_are_a_usage_error(make_files, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("a\n")
    err = usage_error(capsys, *make_files("a"), "--lines", listing)
    assert "not both" in err


def test_dict_keys_are_written_as_strings_and_never_twice():
    written = AsJson(lambda: {3: "a", 2.5: "b", True: "c", None: "d", "e": 5})()
    assert json.loads(written) == {
        "3": "a",
        "2.5": "b",
        "true": "c",
        "null": "d",
        "e": 5,
    }
    alike = [{1: "a", "1": "b"}, [{None: 1, "null": 2}], Point(1, {2: 0, "2": 1})]
    for result in alike:
        with pytest.raises(ResultNotJSON, match="two keys of one dict would both be"):
            AsJson(lambda value=result: value)()


def test_serial_runs_the_loop_body_in_this_process(make_files, capsys, monkeypatch):
    monkeypatch.setattr(fake_tasks, "process_item", lambda item: os.getpid())
    assert cli(*make_files("a", "bb"), "--serial") == 0
    assert set(by_index(capsys.readouterr().out).values()) == {os.getpid()}


@pytest.mark.parametrize("how", [["--pool", "thread"], ["--serial"]])
def test_the_command_line_reads_items_as_the_run_goes(capsys, monkeypatch, how):
    first_ran = threading.Event()

    def items():  # the second item is read only once the first has run
        yield "a"
        assert first_ran.wait(60), "the first item did not run before more were read"
        yield "bb"

    def process_item(item):
        first_ran.set()
        return len(item)

    monkeypatch.setattr(fake_tasks, "items", items)
    monkeypatch.setattr(fake_tasks, "process_item", process_item)
    assert cli(*how) == 0
    assert by_index(capsys.readouterr().out) == {0: 1, 1: 2}


def test_the_bar_knows_the_total_where_it_is_cheap(tmp_path, capsys, monkeypatch):
    """A --lines file's non-empty lines give the bar its total; a generator's
    length is unknown: the bar shows the count so far."""
    monkeypatch.setattr(fake_tasks, "process_item", len)
    listing = tmp_path / "items.txt"
    listing.write_text("a\n\n   \nbb\r\nccc")  # blank lines, CRLF, no last newline
    assert main(["--lines", str(listing)], tasks=fake_tasks) == 0
    assert "3/3 " in capsys.readouterr().err

    monkeypatch.setattr(fake_tasks, "items", lambda: (item for item in ["a", "bb"]))
    assert main([], tasks=fake_tasks) == 0
    err = capsys.readouterr().err
    assert "2item " in err and "/2" not in err
    assert "running the items as they are read" in err


def test_a_directory_is_walked_as_the_run_goes(tmp_path, capsys, monkeypatch):
    """The walk finds files as the run reads them: here, one that the first item
    made in a folder the walk had not reached yet (--serial reads one at a time)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "1.txt").write_text("one")

    def make_the_next(item):
        if item.name == "1.txt":
            (tmp_path / "b" / "2.txt").write_text("two")
        return item.read_text()

    monkeypatch.setattr(fake_tasks, "process_item", make_the_next)
    assert cli(tmp_path, "--serial") == 0
    assert sorted(by_index(capsys.readouterr().out).values()) == ["one", "two"]


def test_the_bar_shows_the_rate(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fake_tasks, "process_item", len)
    listing = tmp_path / "items.txt"
    listing.write_text("a\nbb\n")
    assert main(["--lines", str(listing), "--rate", "600/min"], tasks=fake_tasks) == 0
    assert "rate 10/s" in capsys.readouterr().err
