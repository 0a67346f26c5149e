"""--timeline FILE: when and where each item ran."""

import json

import fake_tasks
import pytest

from {{ cookiecutter.project_slug }} import timeline
from {{ cookiecutter.project_slug }}.cli import (
    main,
)
from {{ cookiecutter.project_slug }}.parallel import (
    run_map,
)


def test_spans_show_two_processes_working_at_once(make_files):
    files = make_files(*["sleep 0.2"] * 4)
    spans = run_map(
        timeline.Timed(fake_tasks.process_item),
        files,
        pool="process",
        max_workers=2,
        progress=False,
    )
    assert [span.value for span in spans] == [len("sleep 0.2")] * 4
    assert len({span.worker for span in spans}) == 2
    first, second = sorted(spans, key=lambda span: span.start)[:2]
    assert second.start < first.end  # they overlapped: parallel


def test_the_timeline_is_drawn_and_results_stay_plain(make_files, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "run.png"
    files = make_files(*["sleep 0.05"] * 6)
    args = [*map(str, files), "--pool", "thread", "--workers", "3", "--no-progress"]
    assert main([*args, "--timeline", str(chart)], tasks=fake_tasks) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["result"] for line in out.splitlines()] == [10] * 6
    assert f"timeline: {chart}" in err
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_without_matplotlib_it_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(timeline, "available", lambda: False)
    with pytest.raises(SystemExit) as exit:
        main(["--timeline", str(tmp_path / "x.png")], tasks=fake_tasks)
    assert exit.value.code == 2
    assert 'pip install -e ".[timeline]"' in capsys.readouterr().err
