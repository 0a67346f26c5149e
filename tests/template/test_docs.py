"""The guide's code samples run, and print what the guide says they print."""

import functools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from processes import run
from rendering import TEMPLATE, render_once

DOCS = TEMPLATE / "docs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(page):
    return FENCE.findall(page.read_text(encoding="utf-8"))


def python_samples():
    """(code, the output the guide shows or None) of every ```python block."""
    for page in sorted(DOCS.glob("*.md")):
        found = blocks(page)
        for number, (language, code) in enumerate(found):
            if language != "python":
                continue
            after = found[number + 1] if number + 1 < len(found) else ("", "")
            expected = after[1] if after[0] == "text" else None
            yield pytest.param(code, expected, id=f"{page.stem}-{number}")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project with the defaults, as the samples say."""
    return render_once(tmp_path_factory)


@pytest.fixture(scope="module")
def project_with_dask(tmp_path_factory):
    return render_once(tmp_path_factory, distributed="dask")


def test_the_guide_has_samples():
    assert len(list(python_samples())) >= 6


@pytest.mark.parametrize("code, expected", list(python_samples()))
def test_a_sample_runs_and_prints_what_the_guide_shows(
    project, tmp_path, code, expected
):
    script = tmp_path / "sample.py"
    script.write_text(code)
    env = {"TQDM_DISABLE": "1", "PYTHONPATH": str(project)}
    done = project.run(str(script), env=env, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    if expected is not None:
        pattern = ".*?".join(map(re.escape, expected.strip().split("...")))
        assert re.fullmatch(pattern, done.stdout.strip(), re.S), done.stdout


# A command line that names a machine or a choice of yours (<scheduler-host>, HOST,
# [INPUTS...]) cannot run here: only its options are checked.
PLACEHOLDER = re.compile(r"<[^>]*>|\[|HOST")


def project_command_lines():
    """Every `python -m <package> ...` line in a shell block of the docs and the
    READMEs, with the package's name filled in."""
    pages = [
        *sorted(DOCS.glob("*.md")),
        TEMPLATE / "README.md",
        TEMPLATE / "{{cookiecutter.project_slug}}" / "README.md",
    ]
    for page in pages:
        for language, code in blocks(page):
            if language != "sh":
                continue
            for line in code.splitlines():
                line = line.split("  #")[0].strip()
                for name in ("{{ cookiecutter.project_slug }}", "<package>"):
                    line = line.replace(name, "parallel_loop")
                if line.startswith("python -m parallel_loop"):
                    yield pytest.param(
                        line, id=f"{page.parent.name}/{page.stem}: {line}"
                    )


def test_the_docs_show_command_lines():
    assert len(list(project_command_lines())) >= 6


@pytest.mark.parametrize("line", list(project_command_lines()))
def test_a_command_line_in_the_docs_works(project_with_dask, line):
    project = project_with_dask
    words = shlex.split(line)
    if PLACEHOLDER.search(line):
        command = words[3:4] if words[3:4] == ["bench"] else []
        help_text = project.run_cli(*command, "--help").stdout
        for word in words[3:]:
            if word.startswith("--"):
                assert word.split("=")[0] in help_text, line
        return
    (project / "data").mkdir(exist_ok=True)
    for name in ("a.txt", "b.txt", "c.csv"):
        (project / "data" / name).write_text(name)
    (project / "more.csv").write_text("x,y\n1,2\n")
    done = project.run(*words[1:], env={"TQDM_DISABLE": "1"}, timeout=180)
    assert done.returncode == 0, done.stderr


def test_the_pictures_are_made_by_the_script_and_shown(tmp_path):
    done = run(str(DOCS / "make_pictures.py"), "--out", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stderr
    for name in ("timeline-cpu.png", "timeline-io.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
        committed = DOCS / "images" / name
        assert committed.read_bytes().startswith(b"\x89PNG"), committed
        assert f"images/{name}" in (DOCS / "concurrency-and-parallelism.md").read_text()
        assert f"docs/images/{name}" in (TEMPLATE / "README.md").read_text()


@pytest.mark.parametrize("command", [[], ["bench"]])
def test_the_commands_that_help_shows_run_as_shown(render, command):
    project = render()
    done = project.run_cli(*command, "--help")
    assert done.returncode == 0, done.stderr
    usage = " ".join(done.stdout.split())
    assert usage.startswith(
        f"usage: python -m {project.name}{' bench' * bool(command)} "
    )
    if command:
        return
    example = re.search(r"seq 100 \| (.+?) --lines -", usage)
    assert example is not None, usage
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    shown = subprocess.run(
        ["bash", "-c", f"{example.group(0)} --no-progress"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout.splitlines()) == 100


def test_the_bench_sample_is_what_bench_prints_for_its_figures(project, monkeypatch):
    """workers.md shows bench's output: its table's figures, run through bench's own
    table and advice, print the sample exactly."""
    (sample,) = [
        code
        for language, code in blocks(DOCS / "workers.md")
        if language == "text" and code.startswith("pool     workers")
    ]
    monkeypatch.syspath_prepend(project)
    from parallel_loop.cli import bench

    rows = []
    for line in sample.splitlines()[1:]:
        if not line.strip() or line.startswith("note:"):
            break
        pool, workers, median, spread, *_ = line.split()
        figures = (float(median[:-1]), float(spread[:-1]), 0)
        rows.append(bench.Timing(pool, int(workers), *figures))

    monkeypatch.setattr(bench, "gil_enabled", lambda: True)
    printed = []
    monkeypatch.setattr("builtins.print", lambda *args: printed.append(" ".join(args)))
    bench.print_table(rows, 20)
    bench.recommend(rows, 20)
    threads = [row for row in rows if row.pool == "thread"]
    bench.say_where_threads_stopped(bench.ThreadSearch(threads, "no gain"), 20)
    bench.compare_with_the_setting(rows, "process", 1, "the default: half the CPUs")
    assert "\n".join(printed).strip("\n") + "\n" == sample


def test_the_samples_for_your_items_give_what_the_page_says(tmp_path, monkeypatch):
    """your-items.md's items() from a CSV file and from a database, and its loop
    body for URLs, on a file, a database and a web server of their own."""
    import http.server
    import sqlite3
    import threading

    found = [code for language, code in blocks(DOCS / "your-items.md")
             if language == "python"]  # fmt: skip
    csv_sample, sql_sample, url_sample = (
        next(code for code in found if word in code)
        for word in ("csv.DictReader", "sqlite3", "urlopen")
    )
    monkeypatch.chdir(tmp_path)
    # As Excel's "CSV UTF-8" saves it: a byte-order mark first, CRLF line ends.
    rows = "\ufeffid,url\r\n7,https://example.org/a\r\n"
    (tmp_path / "rows.csv").write_bytes(rows.encode("utf-8"))
    with sqlite3.connect("jobs.db") as db:
        db.execute("CREATE TABLE jobs (id INTEGER, done INTEGER)")
        db.executemany("INSERT INTO jobs VALUES (?, ?)", [(1, 0), (2, 1), (3, 0)])
    db.close()

    def defined(code, name):
        names = {}
        exec(code, names)  # the sample as a module of yours would hold it
        return names[name]

    assert defined(csv_sample, "items")() == [
        {"id": "7", "url": "https://example.org/a"}
    ]
    assert sorted(defined(sql_sample, "items")()) == [1, 3]  # the ones not done

    (tmp_path / "page.html").write_bytes(b"x" * 1234)
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path)
    )
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/page.html"
        result = defined(url_sample, "process_item")(url)
        server.shutdown()
    assert result == {"status": 200, "bytes": 1234}


def run_sample(code: str, project, tmp_path) -> subprocess.CompletedProcess:
    """A sample of the guide, run as a script of yours beside the project."""
    script = tmp_path / "sample.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_the_logging_sample_names_the_worker_that_wrote_each_line(project, tmp_path):
    (code,) = [code for language, code in blocks(DOCS / "pitfalls.md")
               if language == "python" and "%(processName)s" in code]  # fmt: skip
    done = run_sample(code, project, tmp_path)
    lines = done.stderr.splitlines()  # logging writes to stderr
    assert len(lines) == 2, done.stderr
    for line, item in zip(sorted(lines, key=len), ["a", "bb"], strict=True):
        assert re.fullmatch(rf"\w*Process-\d+ working on {item}", line), line


def piped_samples():
    """Every `printf ... | python -m <package> ...` line of a shell block in the docs
    and the package's README, with the ```text block after it, if any."""
    pages = [*sorted(DOCS.glob("*.md")), TEMPLATE / "{{cookiecutter.project_slug}}" / "README.md"]  # fmt: skip
    for page in pages:
        found = blocks(page)
        for number, (language, code) in enumerate(found):
            line = code.strip()
            if language != "sh" or not line.startswith("printf ") or "\n" in line:
                continue
            for name in ("{{ cookiecutter.project_slug }}", "<package>"):
                line = line.replace(name, "parallel_loop")
            after = found[number + 1] if number + 1 < len(found) else ("", "")
            shown = after[1] if after[0] == "text" else None
            yield pytest.param(line, shown, id=f"{page.stem}: {line[:40]}")


def test_the_docs_pipe_lines_into_the_command_line():
    assert len(list(piped_samples())) >= 2


@pytest.mark.parametrize(("line", "shown"), list(piped_samples()))
def test_a_piped_sample_prints_what_the_page_shows(project, line, shown):
    done = subprocess.run(
        ["bash", "-c", line.replace("python ", f"{shlex.quote(sys.executable)} ", 1)],
        cwd=project,
        env={**os.environ, "TQDM_DISABLE": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(record["index"] for record in records) == list(range(len(records)))
    if shown is not None:  # the same lines; their order is the order items finished
        assert sorted(done.stdout.splitlines()) == sorted(shown.splitlines())


def test_the_dead_worker_sample_prints_what_the_page_shows(project, tmp_path):
    """pitfalls.md's worker that dies under item 3: that item fails alone."""
    found = blocks(DOCS / "pitfalls.md")
    (number,) = [n for n, (_, code) in enumerate(found) if "crash_on_three" in code]
    done = run_sample(found[number][1], project, tmp_path)
    assert found[number + 1][0] == "text"
    assert done.stdout == found[number + 1][1]


def test_the_guides_free_threading_figures_are_the_benchmarks():
    """threads-and-processes.md quotes the 3.14t rows of benchmarks.md's table:
    free_threading.py writes both, and this checks that neither was edited alone."""
    sys.path.insert(0, str(TEMPLATE / "benchmarks"))
    import free_threading

    rows = free_threading.rows_of((DOCS / "benchmarks.md").read_text("utf-8"))
    assert len(rows) == 8  # 4 loop bodies, 2 ways of compiling
    start, end = free_threading.FIGURES
    quoted = start + free_threading.figures(rows) + end
    assert quoted in (DOCS / "threads-and-processes.md").read_text("utf-8")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces
    as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_link_between_the_docs_leads_somewhere():
    pages = [*DOCS.glob("*.md"), TEMPLATE / "README.md"]
    broken = []
    for page in pages:
        text = page.read_text("utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no such file)")
                continue
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text("utf-8"), re.M)
                if anchor not in {github_anchor(h) for h in headings}:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []
