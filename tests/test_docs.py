"""The guide's code samples run, and print what the guide says they print."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE, run
from cookiecutter.main import cookiecutter

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


def render(scratch, **answers):
    config = scratch / "config.yaml"
    config.write_text(json.dumps({"replay_dir": str(scratch / "replay")}))
    return cookiecutter(
        str(TEMPLATE),
        no_input=True,
        output_dir=str(scratch / "out"),
        config_file=str(config),
        extra_context=answers,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project with the defaults, as the samples say."""
    return render(tmp_path_factory.mktemp("docs"))


@pytest.fixture(scope="module")
def project_with_dask(tmp_path_factory):
    return render(tmp_path_factory.mktemp("docs-dask"), distributed="dask")


def test_the_guide_has_samples():
    assert len(list(python_samples())) >= 6


@pytest.mark.parametrize("code, expected", list(python_samples()))
def test_a_sample_runs_and_prints_what_the_guide_shows(
    project, tmp_path, code, expected
):
    script = tmp_path / "sample.py"
    script.write_text(code)
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": project}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
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
    project = Path(project_with_dask)
    words = shlex.split(line)
    if PLACEHOLDER.search(line):
        command = words[3:4] if words[3:4] == ["bench"] else []
        help_text = run("-m", "parallel_loop", *command, "--help", cwd=project).stdout
        for word in words[3:]:
            if word.startswith("--"):
                assert word.split("=")[0] in help_text, line
        return
    (project / "data").mkdir(exist_ok=True)
    for name in ("a.txt", "b.txt"):
        (project / "data" / name).write_text(name)
    (project / "more.csv").write_text("x,y\n1,2\n")
    env = {**os.environ, "TQDM_DISABLE": "1"}
    done = subprocess.run(
        [sys.executable, *words[1:]],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
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
def test_the_commands_that_help_shows_run_as_shown(tmp_path, command):
    project = Path(render(tmp_path))
    done = run("-m", project.name, *command, "--help", cwd=project)
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
