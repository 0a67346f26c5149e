"""Fixtures of the template's tests: renders isolated from the user's cookiecutter
config, the default project, and uv."""

import os
import subprocess
import sys

import pytest
import rendering
from processes import tool


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """A cookiecutter config of our own: no user defaults, no shared replay folder."""
    path = rendering.write_config(tmp_path)
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(path))
    return path


@pytest.fixture
def render(tmp_path, config_file):
    """render(**answers) -> the generated project (a RenderedProject).
    overwrite=True renders again over a project rendered before."""

    def render(overwrite=False, **answers):
        return rendering.render(tmp_path / "out", config_file, overwrite, **answers)

    return render


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """The default project (package parallel_loop), rendered once."""
    return rendering.render_once(tmp_path_factory)


@pytest.fixture
def uv(tmp_path):
    """uv(*args, cwd=folder) runs uv with this test run's Python and a cache of its
    own, and checks that it succeeded. Skips where uv is not installed."""
    command = tool("uv")
    if command is None:
        pytest.skip(
            "uv is not installed: python -m pip install -r requirements-test.txt"
        )
    env = {
        **os.environ,
        "UV_PYTHON": sys.executable,  # the Python of this test run
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "VIRTUAL_ENV": "",  # uv makes the project's own .venv
    }

    def run_uv(*args, cwd):
        done = subprocess.run(
            [command, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    return run_uv
