"""GitHub Actions workflows: valid for GitHub's schema, least privilege, pinned
actions, and a test matrix over the systems and Pythons the projects support."""

import pytest
import yaml
from conftest import TEMPLATE, run

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
