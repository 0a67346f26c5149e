"""layout=script: one runnable file with a PEP 723 block, its test, a README, and
nothing of the package."""

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rendering
import yaml
from cookiecutter.exceptions import FailedHookException
from processes import run
from rendering import read, script_metadata
from test_hostile_answers import HOSTILE, landed, one_line, raw

SUPPORTED = ["3.10", "3.11", "3.12", "3.13", "3.14", "3.14t"]
SYSTEMS = {"ubuntu-latest", "macos-latest", "windows-latest"}


def settings(path: Path) -> dict[str, str]:
    """POOL, MAX_WORKERS and PATTERN as written in a script or tasks.py."""
    found = {}
    for node in ast.parse(read(path)).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("POOL", "MAX_WORKERS", "PATTERN"):
                found[node.targets[0].id] = ast.unparse(node.value)
    return found


def check_results(done, count=40):
    """One JSON line per item on stdout, in input order."""
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["index"] for line in lines] == list(range(count))
    assert all("result" in line for line in lines)


def test_the_default_script(render):
    project = render(layout="script")
    assert project.name == "parallel_loop"
    assert project.files() == {
        "parallel_loop.py",
        "test_parallel_loop.py",
        "README.md",
        "LICENSE",
        ".gitignore",
        ".github/workflows/tests.yml",
        ".github/dependabot.yml",
    }
    project.check_files_are_valid()
    project.check_ruff_is_clean()
    script = project.script
    assert script_metadata(read(script)) == {
        "requires-python": ">=3.10",
        "dependencies": ["tqdm>=4.66"],
    }
    assert settings(script) == {
        "POOL": "'process'",
        "MAX_WORKERS": "None",
        "PATTERN": "'map'",
    }
    assert "# SPDX-License-Identifier: MIT\n" in read(script)

    done = project.run_cli()  # as a user runs it: the demo, the defaults
    check_results(done)
    assert "running 40 items: map pattern, process pool" in done.stderr
    assert "(half the CPUs: try --workers N)" in done.stderr
    assert "40/40" in done.stderr  # the bar, on stderr
    # "TQDM_DISABLE=1 hides the bar"
    quiet = project.run_cli("--workers", "2", env={"TQDM_DISABLE": "1"})
    check_results(quiet)
    assert "40/40" not in quiet.stderr and "it/s" not in quiet.stderr
    for workers in ("0", "four"):
        done = project.run_cli("--workers", workers)
        assert (
            done.returncode == 2 and "--workers: must be a whole number" in done.stderr
        )
        assert done.stdout == ""
    project.check_own_tests_pass()

    readme = project.read("README.md")
    assert readme.startswith("# Parallel Loop\n")
    for command in (
        "python parallel_loop.py",
        "uv run parallel_loop.py",
        "python -m pytest",
        "layout=package",
        "parallel_loop/tasks.py",
    ):
        assert command in readme, command


def test_threads_and_submit_in_a_script(render):
    project = render(
        layout="script",
        project_name="Fetch All",
        pool="thread",
        pattern="submit",
        max_workers="8",
        license="none",
        ci="none",
        description="",
        author_name="",
        author_email="",
    )
    assert project.files() == {
        "fetch_all.py",
        "test_fetch_all.py",
        "README.md",
        ".gitignore",
    }
    project.check_files_are_valid()
    project.check_ruff_is_clean()
    script = project.script
    assert settings(script) == {
        "POOL": "'thread'",
        "MAX_WORKERS": "8",
        "PATTERN": "'submit'",
    }
    header = read(script).split("\n")[4:7]
    assert header[0] == "# Fetch All"  # no description: no ": "
    assert re.fullmatch(r"# Copyright \(c\) \d{4}", header[1])  # no author
    assert header[2].startswith('"""')  # no license: no SPDX line
    assert not re.search(r"[ \t]$", read(script), re.MULTILINE)  # nothing left over
    done = project.run_cli()
    check_results(done)
    assert "running 40 items: submit pattern, thread pool, 8 worker(s)\n" in done.stderr
    project.check_own_tests_pass()


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"pool": "thread", "pattern": "submit", "max_workers": "8"},
        {"max_workers": " 3 "},
    ],
)
def test_the_script_has_the_package_names_and_settings(tmp_path, config_file, answers):
    """Moving up to the package is copy and paste: the same names, the same
    settings from the same answers, the same demo loop body."""
    rendered = {}
    for layout in ("package", "script"):
        rendered[layout] = rendering.render(
            tmp_path / layout, config_file, **{**answers, "layout": layout}
        )
    tasks = rendered["package"] / "parallel_loop" / "tasks.py"
    script = rendered["script"] / "parallel_loop.py"
    assert settings(script) == settings(tasks)
    names = {"process_item", "process_numbered_item", "items"}
    functions = {}
    for path in (tasks, script):
        tree = ast.parse(read(path))
        functions[path] = {
            node.name: ast.unparse(node)
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name in names
        }
        assert set(functions[path]) == names, path
    parallel = ast.parse(read(rendered["package"] / "parallel_loop" / "parallel.py"))
    defined = {node.name for node in parallel.body if isinstance(node, ast.FunctionDef)}
    script_defined = {
        node.name
        for node in ast.parse(read(script)).body
        if isinstance(node, ast.FunctionDef)
    }
    assert {"run_map", "run_submit", "run_serial"} <= defined & script_defined
    # The demo's work is the same (the package's also reads files it is given).
    demo = ast.unparse(ast.parse(functions[tasks]["process_item"]).body[0].body[-1])
    assert demo in functions[script]["process_item"]


def test_hostile_answers_stay_in_their_comments(render):
    """The name, description and author land in the script's header comments: a
    line break, a NUL or a fake metadata block there would break the file."""
    breaks = "\x00\x0b\x0c\x1c\x85\u2028"  # NUL, and line breaks to str.splitlines
    value = landed("".join(HOSTILE) + breaks + " # /// script\n# ///\ncoding: latin-1")
    name = one_line("/// script " + value)
    project = render(
        layout="script",
        project_name=raw(name),
        project_slug="hostile_loop",
        description=raw(value),
        author_name=raw(value),
        author_email="o'neil+x@example.com",
    )
    flat = value.replace("\n", " ").replace("\x00", "")  # as the comments have it
    project.check_files_are_valid(answers=[name, value, flat])
    project.check_ruff_is_clean()
    text = read(project.script)
    assert script_metadata(text)["dependencies"] == ["tqdm>=4.66"]
    name_line, copyright_line, license_line = text.split("\n")[4:7]
    assert name_line == f"# {name.strip()}: {flat.strip()}"
    assert copyright_line.startswith("# Copyright (c) 20")
    assert copyright_line.endswith(f" {flat.strip()} <o'neil+x@example.com>")
    assert license_line == "# SPDX-License-Identifier: MIT"
    assert project.read("README.md").startswith(f"# {name}\n\n{value}\n")
    project.check_own_tests_pass()


def test_dask_is_refused_for_a_script(render, tmp_path, capfd):
    with pytest.raises(FailedHookException):
        render(layout="script", distributed="dask")
    err = capfd.readouterr().err
    assert (
        "error: distributed 'dask' is not accepted: layout 'script' is one file that "
        "runs on this machine's cores; --pool dask needs layout='package'. "
        "For example: distributed='none'"
    ) in err
    assert list((tmp_path / "out").iterdir()) == []


def test_rendering_a_script_twice_gives_the_same_files(render):
    first = render(layout="script", ci="none")
    files = first.files()
    readme = first.read("README.md")
    again = render(overwrite=True, layout="script", ci="none")
    assert again == first
    assert first.files() == files and first.read("README.md") == readme


def test_the_script_workflow(render):
    project = render(layout="script", ci="github")
    path = project / ".github" / "workflows" / "tests.yml"
    done = run(
        "-m",
        "check_jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
        str(path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workflow = yaml.safe_load(read(path))
    assert workflow["permissions"] == {"contents": "read"}
    job = workflow["jobs"]["test"]
    assert set(job["strategy"]["matrix"]["os"]) == SYSTEMS
    assert job["strategy"]["matrix"]["python-version"] == SUPPORTED
    commands = [step.get("run") for step in job["steps"]]
    assert commands[-3:] == [
        "ruff check .",
        "ruff format --check .",
        "python -m pytest",
    ]
    # The script's own dependencies: its PEP 723 block, which pip reads from 26 on.
    assert commands[-5] == 'python -m pip install --upgrade "pip>=26"'
    assert "--requirements-from-script parallel_loop.py" in commands[-4]
    for step in job["steps"]:
        if "uses" in step:
            assert len(step["uses"].split("@")[1]) == 40  # pinned to a commit
            assert step["uses"].startswith("actions/setup-python") or (
                step["with"]["persist-credentials"] is False
            )
    zizmor = shutil.which("zizmor", path=str(Path(sys.executable).parent))
    if zizmor:
        done = subprocess.run(
            [zizmor, "--offline", str(project / ".github")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr


# As the README says: uvx --with-requirements parallel_loop.py pytest
UVX_PYTEST = ("tool", "run", "--no-progress", "--with-requirements", "parallel_loop.py",
              "pytest", "-p", "no:cacheprovider")  # fmt: skip


def test_uv_runs_the_script_and_its_test(render, uv):
    """uv reads the PEP 723 block: it installs tqdm for the script by itself."""
    project = render(layout="script", pool="thread")

    def uv_run(*args):
        return uv(*args, cwd=project)

    check_results(uv_run("run", "--no-progress", "parallel_loop.py", "--workers", "8"))
    uv_run(*UVX_PYTEST)
    assert "uvx --with-requirements parallel_loop.py pytest" in project.read(
        "README.md"
    )
