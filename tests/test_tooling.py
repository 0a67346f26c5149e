"""Conventions checked by tools nobody here wrote: repo-review (scientific-python's
checks for a Python package), zizmor (GitHub Actions security) and mypy, on
generated projects and on the template's own workflow."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE, run


def tool(name: str) -> str:
    """A command installed beside this Python (in its virtual environment)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    return found or shutil.which(name) or name


@pytest.fixture(params=["none", "dask"])
def package(request, render):
    return render(distributed=request.param)


def test_repo_review_finds_nothing_to_fix(package):
    done = subprocess.run(
        [tool("repo-review"), "--format", "json", str(package)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    checks = json.loads(done.stdout)["checks"]
    failed = {
        name: check["description"]
        for name, check in checks.items()
        if check["result"] is False
    }
    assert failed == {}
    assert sum(check["result"] is True for check in checks.values()) >= 30


def test_zizmor_finds_nothing_in_the_workflows(render):
    project = render(ci="github")
    for workflows in (project / ".github", TEMPLATE / ".github" / "workflows"):
        done = subprocess.run(
            [tool("zizmor"), "--offline", str(workflows)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_passes_on_the_generated_package(package):
    done = run("-m", "mypy", cwd=package, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_generated_project_runs_and_tests_with_uv(render, tmp_path):
    uv = tool("uv")
    if not shutil.which(uv):
        pytest.skip(
            "uv is not installed: python -m pip install -r requirements-test.txt"
        )
    project = render()
    env = {
        **os.environ,
        "UV_PYTHON": sys.executable,  # the Python of this test run
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "VIRTUAL_ENV": "",  # uv makes the project's own .venv
    }
    for command in (
        ["run", "--no-progress", "python", "-m", "parallel_loop", "--no-progress"],
        ["run", "--no-progress", "pytest", "-q", "-p", "no:cacheprovider"],
    ):
        done = subprocess.run(
            [uv, *command],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (project / ".venv").is_dir()
