"""The command line, end to end, with the loop body of fake_tasks.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import fake_tasks
import pytest

from {{ cookiecutter.project_slug }}.cli import (
    main,
)
from {{ cookiecutter.project_slug }}.inputs import (
    collect_files,
)

PROJECT = Path(__file__).parent.parent
PACKAGE = main.__module__.split(".")[0]


def cli(*args):
    return main(["--no-progress", *map(str, args)], tasks=fake_tasks)


def records(text):
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("how", [[], ["--pattern", "submit"], ["--serial"]])
def test_results_of_files_and_walked_directories(
    tmp_path, make_files, capsys, pool, how
):
    a, b, c = make_files("a", "bb", "ccc")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.txt").write_text("dddd")
    assert cli(a, tmp_path / "sub", c, b, "--pool", pool, *how) == 0
    out, err = capsys.readouterr()
    results = {r["index"]: (Path(r["item"]).name, r["result"]) for r in records(out)}
    assert results == {
        0: ("item0000.txt", 1),
        1: ("d.txt", 4),
        2: ("item0002.txt", 3),
        3: ("item0001.txt", 2),
    }
    assert "done: 4 of 4 items" in err and "0 failed" in err


def test_the_demo_runs_with_no_inputs():
    # Runs your tasks.py on demo_items(): keep them few and quick.
    done = subprocess.run(
        [sys.executable, "-m", PACKAGE, "--no-progress"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert all("result" in r for r in records(done.stdout))
    assert "done:" in done.stderr


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_worker_counts_are_usage_errors(value, capsys):
    with pytest.raises(SystemExit) as exit:
        cli("--workers", value)
    assert exit.value.code == 2
    assert f"must be a whole number from 1 up, not '{value}'" in capsys.readouterr().err


def test_a_missing_input_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        cli(tmp_path / "nope.txt")
    assert exit.value.code == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_empty_input_has_nothing_to_do(tmp_path, capsys):
    assert cli(tmp_path) == 0
    assert "nothing to do" in capsys.readouterr().err


def test_a_failing_item_stops_the_run_and_says_which(make_files, capsys, pool):
    files = make_files("a", "fail", "c")
    assert cli(*files, "--pool", pool, "--workers", "1") == 1
    err = capsys.readouterr().err
    assert f"item #1 ({files[1]}) failed: ValueError: cannot process" in err
    assert "Traceback" in err and "raise ValueError" in err  # the worker's traceback
    assert "--keep-going" in err


def test_keep_going_runs_everything_and_lists_failures(make_files, capsys, pool):
    files = make_files("a", "fail", "c", "fail")
    assert cli(*files, "--pool", pool, "--keep-going") == 1
    out, err = capsys.readouterr()
    assert [r["index"] for r in records(out) if "result" in r] == [0, 2]
    assert "done: 2 of 4 items" in err and "2 failed" in err
    assert "item #1" in err and "item #3" in err


def test_output_file_then_resume_runs_only_what_is_missing(
    make_files, tmp_path, capsys
):
    files = make_files("a", "fail", "c")
    out = tmp_path / "results.jsonl"
    assert cli(*files, "--keep-going", "--output", out) == 1
    assert [r.get("result") for r in records(out.read_text())] == [1, None, 1]
    files[1].write_text("fixed")
    capsys.readouterr()
    assert cli(*files, "--output", out, "--resume") == 0
    assert "done: 1 of 1 items" in capsys.readouterr().out  # only item #1 ran
    finished = {
        r["index"]: r["result"] for r in records(out.read_text()) if "result" in r
    }
    assert finished == {0: 1, 1: 5, 2: 1}


def test_an_existing_output_file_is_not_overwritten(make_files, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    out.write_text('{"index": 0, "item": "x", "result": 1}\n')
    with pytest.raises(SystemExit) as exit:
        cli(*make_files("a"), "--output", out)
    assert exit.value.code == 2
    assert "--resume" in capsys.readouterr().err
    assert out.read_text() == '{"index": 0, "item": "x", "result": 1}\n'


def test_resume_needs_an_output_file(capsys):
    with pytest.raises(SystemExit) as exit:
        cli("--resume")
    assert exit.value.code == 2 and "--resume needs --output" in capsys.readouterr().err


def test_resume_refuses_a_file_of_other_inputs(make_files, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    out.write_text('{"index": 0, "item": "/elsewhere/x.txt", "result": 1}\n')
    with pytest.raises(SystemExit) as exit:
        cli(*make_files("a"), "--output", out, "--resume")
    assert exit.value.code == 2 and "other inputs" in capsys.readouterr().err


def test_resume_after_a_line_cut_short(make_files, tmp_path, capsys):
    files = make_files("a", "bb")
    out = tmp_path / "results.jsonl"
    line = json.dumps({"index": 0, "item": str(files[0]), "result": 1})
    out.write_text(line + '\n{"index": 1, "ite')  # killed mid-write
    assert cli(*files, "--output", out, "--resume") == 0
    assert "skipped 1 unreadable line" in capsys.readouterr().err
    lines = out.read_text().splitlines()
    assert json.loads(lines[-1])["result"] == 2 and lines[0] == line


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges")
def test_symlink_loops_and_broken_links_do_not_hang_or_crash(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "loop").symlink_to(tmp_path)  # a directory containing itself
    (tmp_path / "broken.txt").symlink_to(tmp_path / "missing.txt")
    assert cli(tmp_path, "--keep-going") == 1
    out, err = capsys.readouterr()
    assert "not following symbolic link" in err
    assert "FileNotFoundError" in err and "1 failed" in err
    assert [r["result"] for r in records(out) if "result" in r] == [1]


def test_an_unreadable_directory_is_reported(tmp_path, monkeypatch):
    (tmp_path / "locked").mkdir()
    (tmp_path / "a.txt").write_text("a")
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    problems = []
    files = collect_files([str(tmp_path)], print, problems.append)
    assert [f.name for f in files] == ["a.txt"]
    locked = tmp_path / "locked"
    assert problems == [f"cannot read {locked}: Permission denied; files skipped"]
