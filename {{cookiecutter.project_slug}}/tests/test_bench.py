"""python -m <package> bench: a table, and a recommendation that fits the work."""

import fake_tasks
import pytest

from {{ cookiecutter.project_slug }}.bench import (
    sample,
    worker_counts,
)
from {{ cookiecutter.project_slug }}.cli import (
    main,
)


def bench(*args):
    return main(["bench", *map(str, args)], tasks=fake_tasks)


def test_waiting_work_is_sent_to_threads(make_files, capsys):
    assert bench(*make_files(*["sleep 0.03"] * 16), "--sample", "16") == 0
    out = capsys.readouterr().out
    assert "timing 16 items" in out
    lines = out.splitlines()
    rows = [line.split() for line in lines if line.startswith(("serial", "thread"))]
    rows += [line.split() for line in lines if line.startswith("process")]
    assert rows[0][:2] == ["serial", "1"]
    assert {row[0] for row in rows} == {"serial", "thread", "process"}
    assert "recommendation: --pool thread --workers" in out
    recommended = out.split("--workers ")[1].split()[0]
    assert int(recommended) >= 4  # 16 waits of 30 ms: threads overlap them


def test_computing_work_gets_a_table_and_a_recommendation(make_files, capsys):
    assert bench(*make_files(*["spin 200000"] * 6)) == 0
    out = capsys.readouterr().out
    assert "speedup" in out and "efficiency" in out
    assert "recommendation:" in out


def test_failing_items_are_counted_not_fatal(make_files, capsys):
    assert bench(*make_files("a", "fail")) == 0
    assert "note: 1 of the 2 items failed" in capsys.readouterr().out


def test_nothing_to_bench(tmp_path, capsys):
    assert bench(tmp_path) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_worker_counts_and_sample():
    assert worker_counts("process", 2) == [1, 2]
    assert worker_counts("process", 6) == [1, 2, 4, 6]
    assert worker_counts("process", 1) == [1]
    assert worker_counts("thread", 2) == [2, 4, 8, 16, 32]
    assert sample(list(range(100)), 4) == [0, 25, 50, 75]
    assert sample([1, 2], 20) == [1, 2]


@pytest.mark.parametrize("value", ["0", "x"])
def test_bad_sample_size(value, capsys):
    with pytest.raises(SystemExit) as exit:
        bench("--sample", value)
    assert exit.value.code == 2
