"""Conventions checked by tools nobody here wrote: repo-review (scientific-python's
checks for a Python package) and zizmor (GitHub Actions security), on generated
projects and on the template's own workflow. (mypy runs as the generated workflow
runs it: test_workflows.py.)"""

import json
import subprocess

import pytest
from processes import tool
from rendering import TEMPLATE


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


def test_a_generated_project_runs_and_tests_with_uv(render, uv):
    project = render()
    uv(
        "run",
        "--no-progress",
        "python",
        "-m",
        "parallel_loop",
        "--no-progress",
        cwd=project,
    )
    uv("run", "--no-progress", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert (project / ".venv").is_dir()
