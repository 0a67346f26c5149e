"""GitHub Actions workflows: valid for GitHub's schema, least privilege, pinned
actions, and a test matrix over the systems and Pythons the projects support."""

import os
import subprocess
import sys

import pytest
import yaml
from processes import run
from rendering import TEMPLATE

SUPPORTED = ["3.10", "3.11", "3.12", "3.13", "3.14"]
SYSTEMS = {"ubuntu-latest", "macos-latest", "windows-latest"}


@pytest.fixture
def workflows(render):
    project = render(ci="github")
    found = sorted((project / ".github" / "workflows").glob("*.yml"))
    return found + sorted((TEMPLATE / ".github" / "workflows").glob("*.yml"))


def test_every_workflow_is_valid_for_github(workflows):
    assert len(workflows) == 3
    done = run(
        "-m",
        "check_jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
        *map(str, workflows),
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_least_privilege_and_pinned_actions(workflows):
    for path in workflows:
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {"contents": "read"}, path
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    action, ref = step["uses"].split("@")
                    assert len(ref) == 40 and int(ref, 16) >= 0, (path, step)


def test_the_matrices_cover_the_systems_and_pythons(workflows):
    by_name = {path.name: yaml.safe_load(path.read_text()) for path in workflows}
    project = by_name["tests.yml"]["jobs"]["test"]["strategy"]["matrix"]
    assert set(project["os"]) == SYSTEMS
    assert project["python-version"] == [*SUPPORTED, "3.14t"]  # free-threaded
    job = by_name["tests.yml"]["jobs"]["test"]
    assert job["continue-on-error"] == "${{ endsWith(matrix.python-version, 't') }}"
    assert "mypy" in [step.get("run") for step in job["steps"]]
    template = by_name["ci.yml"]["jobs"]["template-tests"]["strategy"]["matrix"]
    assert set(template["os"]) == SYSTEMS
    assert template["python-version"] == SUPPORTED[1:]  # its tests use tomllib: 3.11+
    updates = by_name["template-updates.yml"]
    assert updates[True]["schedule"] == [{"cron": "0 6 * * 1"}]  # YAML 1.1: on: True
    assert "cruft check" in updates["jobs"]["cruft-check"]["steps"][-1]["run"]


# The generated workflows' `run:` steps, run as written in a fresh virtual
# environment on this Python. (The `uses:` steps stand for what they install:
# this Python, from setup-python, and the project, checked out.) The thread pool's
# project declares what the default one does: its steps run in the same venv next.
KINDS = {
    "package": [{}, {"pool": "thread", "pattern": "submit"}],
    "dask": [{"distributed": "dask"}],
    "script": [{"layout": "script"}],
}


def run_steps(project, venv) -> None:
    workflow = yaml.safe_load((project / ".github/workflows/tests.yml").read_text())
    steps = [step["run"] for step in workflow["jobs"]["test"]["steps"] if "run" in step]
    assert steps[0].startswith("python -m pip install") and "pytest" in steps[-1]
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    for step in steps:
        done = subprocess.run(
            ["bash", "-e", "-c", step],  # GitHub runs a step as `bash -e {0}`
            cwd=project,
            env={**env, "VIRTUAL_ENV": str(venv)},
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, (
            f"{step}\n{done.stdout[-4000:]}{done.stderr[-3000:]}"
        )


@pytest.mark.skipif(os.name == "nt", reason="the steps run in bash, from venv/bin")
@pytest.mark.parametrize("kind", KINDS)
def test_the_workflow_run_steps_pass_as_written(render, kind, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    for answers in KINDS[kind]:
        run_steps(render(ci="github", overwrite=True, **answers), venv)


def precommit_revs(project) -> dict[str, str]:
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    return {repo["repo"].rsplit("/", 1)[1]: repo["rev"] for repo in config["repos"]}


def test_the_precommit_hooks_are_the_workflows_tools(render):
    """pre-commit's ruff and mypy are the versions that the workflow installs (the
    lint extra), and their hook ids exist at those versions."""
    project = render(ci="github")
    lint = project.pyproject()["project"]["optional-dependencies"]["lint"]
    pins = dict(requirement.split("==") for requirement in lint if "==" in requirement)
    revs = precommit_revs(project)
    assert revs["ruff-pre-commit"] == f"v{pins['ruff']}"
    assert revs["mirrors-mypy"] == f"v{pins['mypy']}"
    groups = project.pyproject()["dependency-groups"]["dev"]
    assert {f"ruff=={pins['ruff']}", f"mypy=={pins['mypy']}"} <= set(groups)
    ruff_version = tuple(map(int, pins["ruff"].split(".")))
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    ids = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert "ruff-check" in ids and ruff_version >= (0, 11, 10)  # its id since then
    script = render(ci="github", layout="script", overwrite=True)
    workflow = (script / ".github/workflows/tests.yml").read_text()
    assert f'"ruff=={pins["ruff"]}"' in workflow


def test_the_precommit_hooks_pass_on_a_fresh_project(render, tmp_path):
    """What `pre-commit run --all-files` runs, with each hook's own package at its
    pinned version (pre-commit itself would clone the hooks' repositories). Its
    ruff and mypy are the workflow's (test_the_precommit_hooks_are_the_workflows_
    tools), which test_the_workflow_run_steps_pass_as_written runs: the others
    run here."""
    project = render(ci="github")
    revs = precommit_revs(project)
    assert set(revs) == {
        "pre-commit-hooks",
        "ruff-pre-commit",
        "mirrors-mypy",
        "zizmor-pre-commit",
    }
    packages = [
        f"pre-commit-hooks=={revs['pre-commit-hooks'][1:]}",
        f"zizmor=={revs['zizmor-pre-commit'][1:]}",
    ]
    venv = tmp_path / "hooks"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_ = venv / "bin"
    install = [bin_ / "pip", "install", "-q", *packages]
    subprocess.run(install, check=True, timeout=900, capture_output=True)
    files = sorted(project.files())
    tomls = [name for name in files if name.endswith(".toml")]
    yamls = [name for name in files if name.endswith((".yml", ".yaml"))]
    for command in (
        [bin_ / "check-toml", *tomls],
        [bin_ / "check-yaml", *yamls],
        [bin_ / "end-of-file-fixer", *files],
        [bin_ / "trailing-whitespace-fixer", *files],
        [bin_ / "zizmor", "--offline", "--no-progress", ".github"],
    ):
        done = subprocess.run(command, cwd=project, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
