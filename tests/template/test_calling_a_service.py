"""The README's loop body that calls a service, pasted into a thread project's
tasks.py, run by the project's own command line against a local service that
limits its callers (local_http.Service): RATE and the service's 429 as the
README, tasks.py and --help say."""

import ast
import json
import os
import subprocess
import sys

from local_http import Service, serving
from test_your_code import python_block_with


def paste_service_example(project, rate) -> None:
    """tasks.py with the README's urlopen loop body, and RATE set."""
    example = python_block_with(project.read("README.md"), "urlopen(item")
    tasks = project / "parallel_loop" / "tasks.py"
    code = tasks.read_text()
    lines = code.splitlines(keepends=True)
    for node in sorted(ast.parse(code).body, key=lambda n: n.lineno, reverse=True):
        if isinstance(node, ast.FunctionDef) and node.name == "process_item":
            del lines[node.lineno - 1 : node.end_lineno]
    code = "".join(lines).replace("RATE = None", f"RATE = {rate!r}")
    assert f"RATE = {rate!r}" in code
    tasks.write_text(code + "\n\n" + example)


def run(project, *args):
    return subprocess.run(
        [sys.executable, "-m", "parallel_loop", "--no-progress", *map(str, args)],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_readmes_service_loop_body_keeps_to_the_rate_and_the_pauses(
    render, tmp_path
):
    project = render(pool="thread")
    help_text = run(project, "--help").stdout
    assert "--rate RATE" in help_text and "Retry-After" in help_text
    tasks_text = (project / "parallel_loop" / "tasks.py").read_text()
    assert "RATE = None" in tasks_text and "Retry-After" in tasks_text
    paste_service_example(project, "1200/min")
    # The service takes 15 a second and asks for 1 s of quiet when passed.
    service = Service(per_second=15, burst=3, retry_after=1)
    with serving(service.handler()) as port:
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(f"http://127.0.0.1:{port}/{n}\n" for n in range(120)))
        done = run(project, "--lines", urls, "--workers", "16")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(r["index"] for r in records) == list(range(120))
    assert all(r["result"]["status"] == 200 for r in records)
    service.check_kept_to(items=120, extra=12)
    assert "the service throttled" in done.stderr
    assert "the pool paused" in done.stderr


def test_a_default_render_shows_the_rate_and_throttling(project):
    """--help, tasks.py and help(run_map) of a default render (process pool) say
    what the rate is and what the pool does when the service throttles."""
    help_text = run(project, "--help").stdout
    assert "--rate RATE" in help_text and "--throttle-retries N" in help_text
    assert "429" in help_text and "Retry-After" in help_text
    tasks = (project / "parallel_loop" / "tasks.py").read_text()
    assert "RATE = None" in tasks and "THROTTLE_RETRIES = 10" in tasks
    assert "Retry-After" in tasks and "parallel.Throttled" in tasks
    shown = subprocess.run(
        [sys.executable, "-c", "import parallel_loop.parallel as p; help(p.run_map)"],
        cwd=project, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PAGER": "cat", "TERM": "dumb"},
    ).stdout  # fmt: skip
    assert "rate          items started a second at most" in shown
    assert "throttle_retries" in shown and "Retry-After" in shown
