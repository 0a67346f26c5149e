"""Fixtures of the engine tests: the default project, importable here, its command
line and scripts started with the loop bodies of bodies.py, and items as files."""

import os
import subprocess
import sys

import pytest
import rendering

HERE = rendering.ENGINE  # bodies.py and run_cli.py


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
    loop body of bodies.py, in its own process group as a terminal would. env
    changes the environment (None removes a variable); stderr may be a file."""

    def start(*args, env=None, stderr=subprocess.PIPE, where=project, **options):
        path = os.pathsep.join([str(where), str(HERE)])
        package = {"PYTHONPATH": path, "PFOR_PACKAGE": where.name}
        changed = {**os.environ, **package, **(env or {})}
        return subprocess.Popen(
            [sys.executable, str(HERE / "run_cli.py"), *map(str, args)],
            stdout=options.pop("stdout", subprocess.PIPE),
            stderr=stderr,
            text=True,
            start_new_session=True,
            env={name: value for name, value in changed.items() if value is not None},
            **options,
        )

    return start


@pytest.fixture
def start_script(project, tmp_path):
    """start_script(code) starts Python on a script of that code, in its own
    process group, with the project and bodies.py importable."""

    def start(code):
        script = tmp_path / "script.py"
        script.write_text(code)
        path = os.pathsep.join([str(project), str(HERE)])
        return subprocess.Popen(
            [sys.executable, str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": path},
        )

    return start
