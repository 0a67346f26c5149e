"""Rendering the template in tests, isolated from the user's cookiecutter config."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
LEFTOVER_TAG = re.compile(r"{%-? *(if|elif|else|endif|raw|endraw|for|endfor)\b")


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """A cookiecutter config of our own: no user defaults, no shared replay folder."""
    path = tmp_path / "cookiecutter-config.yaml"
    settings = {
        "cookiecutters_dir": str(tmp_path / "cookiecutters"),
        "replay_dir": str(tmp_path / "replay"),
    }
    path.write_text(json.dumps(settings))  # JSON is YAML
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(path))
    return path


@pytest.fixture
def render(tmp_path, config_file):
    """render(**answers) -> the generated project's folder."""

    def render(**answers):
        out = tmp_path / "out"
        project = cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context=answers,
            output_dir=str(out),
            config_file=str(config_file),
        )
        return Path(project)

    return render


def run(*args, cwd=None, timeout=300):
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read(path: Path) -> str:
    """A file's text exactly, \r included."""
    return path.read_bytes().decode("utf-8")


def check_files_are_valid(project: Path, answers=()) -> None:
    """Every file parses for its type, and no template syntax was left behind
    (other than inside the answers given)."""
    for path in project.rglob("*"):
        assert "{{" not in path.name and "{%" not in path.name, path
        if not path.is_file():
            continue
        text = read(path)
        template_text = text
        for answer in answers:
            template_text = template_text.replace(answer, "")
        assert "{{ cookiecutter." not in template_text, path
        assert not LEFTOVER_TAG.search(template_text), path
        if path.suffix == ".py":
            compile(text, str(path), "exec")
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix in (".yml", ".yaml"):
            yaml.safe_load(text)
        elif path.suffix == ".json":
            json.loads(text)


def check_ruff_is_clean(project: Path) -> None:
    for command in (["check", "."], ["format", "--check", "."]):
        done = run("-m", "ruff", *command, cwd=project)
        assert done.returncode == 0, done.stdout + done.stderr


def check_own_tests_pass(project: Path) -> None:
    try:
        done = run(
            "-m", "pytest", "-vv", "-p", "no:cacheprovider", cwd=project, timeout=600
        )
    except subprocess.TimeoutExpired as timeout:  # say where it hung
        output = timeout.stdout or b""  # bytes, even with text=True
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        raise AssertionError(f"the project's tests hung:\n{output[-6000:]}") from None
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]


def check_project(project: Path) -> None:
    """What every render must pass: valid files, ruff, the demo runs, own tests."""
    check_files_are_valid(project)
    check_ruff_is_clean(project)
    done = run("-m", project.name, "--no-progress", cwd=project, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 40  # one JSON line per demo item
    check_own_tests_pass(project)


def pyproject(project: Path) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
