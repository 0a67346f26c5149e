"""bench and --timeline of a rendered project."""

import json

import bodies
import pytest


@pytest.fixture
def cli(project):
    from parallel_loop import cli

    return cli


def bench(cli, *args):
    return cli.main(["bench", *map(str, args)], tasks=bodies)


def test_waiting_work_is_sent_to_threads(cli, make_files, capsys):
    assert bench(cli, *make_files(*["sleep 0.03"] * 16), "--sample", "16") == 0
    out = capsys.readouterr().out
    assert "timing 16 items" in out
    lines = out.splitlines()
    rows = [
        line.split()
        for line in lines
        if line.startswith(("serial", "thread", "process"))
    ]
    assert rows[0][:2] == ["serial", "1"]
    assert {row[0] for row in rows} == {"serial", "thread", "process"}
    assert "recommendation: --pool thread --workers" in out
    recommended = out.split("--workers ")[1].split()[0]
    assert int(recommended) >= 4  # 16 waits of 30 ms: threads overlap them


def test_computing_work_gets_a_table_and_a_recommendation(cli, make_files, capsys):
    assert bench(cli, *make_files(*["spin 200000"] * 6)) == 0
    out = capsys.readouterr().out
    assert "speedup" in out and "efficiency" in out
    assert "recommendation:" in out


def test_failing_items_are_counted_not_fatal(cli, make_files, capsys):
    assert bench(cli, *make_files("a", "fail")) == 0
    assert "note: 1 of the 2 items failed" in capsys.readouterr().out


def test_nothing_to_bench(cli, tmp_path, capsys):
    assert bench(cli, tmp_path) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_process_counts_and_sample(project):
    from parallel_loop.cli.bench import process_counts, sample

    assert process_counts(2) == [1, 2]
    assert process_counts(6) == [1, 2, 4, 6]
    assert process_counts(1) == [1]
    assert sample(list(range(100)), 4) == [0, 25, 50, 75]
    assert sample([1, 2], 20) == [1, 2]


def test_threads_double_until_they_stop_gaining(project):
    from parallel_loop.cli.bench import Timing, search_threads

    def model(seconds):  # a Timing of `count` threads, from seconds(count)
        return lambda count: Timing("thread", count, seconds(count), 0.0, 0)

    def tried(found):
        return [row.workers for row in found.rows], found.stopped

    # 512 items that wait 0.1 s each, on a service that serves 100 at once.
    waiting = search_threads(model(lambda n: 51.2 / min(n, 100)), 512)
    assert tried(waiting) == ([2, 4, 8, 16, 32, 64, 128, 256], "no gain")
    computing = search_threads(model(lambda n: 1.0), 512)  # the GIL: no gain
    assert tried(computing) == ([2, 4], "no gain")
    gaining = model(lambda n: 100 / n)
    assert tried(search_threads(gaining, 20)) == ([2, 4, 8], "input")
    assert tried(search_threads(gaining, 10_000))[1] == "ceiling"
    assert tried(search_threads(gaining, 10_000))[0][-1] == 256


@pytest.mark.parametrize("value", ["0", "x"])
def test_bad_sample_size(cli, value, capsys):
    with pytest.raises(SystemExit) as exit:
        bench(cli, "--sample", value)
    assert exit.value.code == 2


def test_spans_show_two_processes_working_at_once(project, tmp_path):
    from parallel_loop.cli import timeline
    from parallel_loop.parallel import run_map

    items = [f"meet {tmp_path / 'meeting'}"] * 2  # each waits for the other
    spans = run_map(
        timeline.Timed(bodies.process_item), items, max_workers=2, progress=False
    )
    assert len({span.worker for span in spans}) == 2
    first, second = sorted(spans, key=lambda span: span.start)
    assert second.start < first.end  # they overlapped: parallel


def test_the_timeline_is_drawn_and_results_stay_plain(
    cli, make_files, tmp_path, capsys
):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "run.png"
    files = make_files(*["sleep 0.05"] * 6)
    args = [*map(str, files), "--pool", "thread", "--workers", "3", "--no-progress"]
    assert cli.main([*args, "--timeline", str(chart)], tasks=bodies) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["result"] for line in out.splitlines()] == [10] * 6
    assert f"timeline: {chart}" in err
    assert chart.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "name, says",
    [
        ("nowhere/run.png", "no folder"),
        ("noext", "name a .png/.svg/.pdf file"),
        ("folder.png", "is a directory"),
    ],
)
def test_a_bad_timeline_file_is_refused_before_anything_runs(
    cli, make_files, tmp_path, capsys, name, says
):
    pytest.importorskip("matplotlib")
    done = tmp_path / "done"
    done.mkdir()
    files = make_files(f"done {done}")  # leaves a mark there if it runs
    chart = tmp_path / name
    if name == "folder.png":
        chart.mkdir()
    with pytest.raises(SystemExit) as exit:
        cli.main([str(files[0]), "--timeline", str(chart)], tasks=bodies)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"--timeline {chart}" in err and says in err, err
    assert not list(done.iterdir()) and not list(tmp_path.glob("noext*"))


def test_without_matplotlib_it_says_what_to_install(cli, monkeypatch, capsys, tmp_path):
    from parallel_loop.cli import timeline

    monkeypatch.setattr(timeline, "available", lambda: False)
    with pytest.raises(SystemExit) as exit:
        cli.main(["--timeline", str(tmp_path / "x.png")], tasks=bodies)
    assert exit.value.code == 2
    assert 'pip install -e ".[timeline]"' in capsys.readouterr().err


def test_serial_runs_without_the_long_run_settings_of_tasks(
    cli, make_files, monkeypatch, capsys
):
    # TIMEOUT = 30 in tasks.py, as the README suggests for long runs.
    monkeypatch.setattr(bodies, "TIMEOUT", 30, raising=False)
    monkeypatch.setattr(bodies, "RETRIES", 2, raising=False)
    files = list(map(str, make_files("a", "bb")))
    assert cli.main([*files, "--serial", "--no-progress"], tasks=bodies) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2
    assert "without tasks.py's TIMEOUT and RETRIES: they need a pool" in err
    with pytest.raises(SystemExit) as exit:  # asked for on the command line: refused
        cli.main([*files, "--serial", "--timeout", "5"], tasks=bodies)
    assert exit.value.code == 2
    assert "--timeout and --retries need a pool" in capsys.readouterr().err


def test_timeout_0_turns_the_limit_of_tasks_off_for_one_run(
    cli, make_files, monkeypatch, capsys
):
    monkeypatch.setattr(bodies, "TIMEOUT", 0.2, raising=False)
    files = list(map(str, make_files("sleep 1", "a")))
    args = [*files, "--pool", "thread", "--no-progress", "--keep-going"]
    assert cli.main(args, tasks=bodies) == 1  # tasks.TIMEOUT: the sleep times out
    assert "ItemTimeout" in capsys.readouterr().out
    assert cli.main([*args, "--timeout", "0"], tasks=bodies) == 0
    assert "ItemTimeout" not in capsys.readouterr().out
