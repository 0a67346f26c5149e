"""Fixtures of the engine tests: the default project, importable here, its command
line and scripts started with the loop bodies of bodies.py, and items as files."""

import os
import subprocess
import sys

import pytest
import rendering


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """The default project (package parallel_loop), importable: engine tests."""
    project = rendering.render_once(tmp_path_factory)
    sys.path.insert(0, str(project))
    return project


@pytest.fixture
def make_files(tmp_path):
    """make_files("a", "fail", ...) -> paths of files with those contents."""

    def make(*contents):
        paths = []
        for number, content in enumerate(contents):
            path = tmp_path / f"item{number:04d}.txt"
            path.write_text(content)
            paths.append(path)
        return paths

    return make


@pytest.fixture
def start_cli(project):
    """start_cli(*args, env=changes) starts the project's command line with the
    loop body of bodies.py: RenderedProject.start_cli."""
    return project.start_cli


@pytest.fixture
def start_script(project, tmp_path):
    """start_script(code) starts Python on a script of that code, in its own
    process group, with the project and bodies.py importable."""

    def start(code):
        script = tmp_path / "script.py"
        script.write_text(code)
        path = os.pathsep.join([str(project), str(rendering.ENGINE)])
        return subprocess.Popen(
            [sys.executable, str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": path},
        )

    return start
