"""Rendering the template in tests, isolated from the user's cookiecutter config."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent

# The Ctrl-C tests send SIGINT to the processes they start. A shell that runs the
# tests in the background (`python -m pytest &` in a script) starts them with
# SIGINT ignored, and every process started from here would inherit that.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_report_header(config):
    import pythons  # every Python here: what tests/test_matrix.py runs on

    return pythons.report()


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
    """render(**answers) -> the generated project's folder. overwrite=True
    renders again over a project rendered before."""

    def render(overwrite=False, **answers):
        out = tmp_path / "out"
        project = cookiecutter(
            str(TEMPLATE),
            no_input=True,
            overwrite_if_exists=overwrite,
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


# Starts Python with SIGINT ignored, as a shell starts a command run in the
# background (`python -m pytest &`): a project's tests must pass that way too.
IGNORING_CTRL_C = (
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
)


def check_own_tests_pass(project: Path, *paths: str) -> None:
    """The project's own tests (or only those in `paths`) pass, started as in the
    background."""
    try:
        done = run(
            *IGNORING_CTRL_C,
            "-m",
            "pytest",
            "-vv",
            "-p",
            "no:cacheprovider",
            *paths,
            cwd=project,
            timeout=600,
        )
    except subprocess.TimeoutExpired as timeout:  # say where it hung
        output = timeout.stdout or b""  # bytes, even with text=True
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        raise AssertionError(f"the project's tests hung:\n{output[-6000:]}") from None
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]


def check_project(project: Path, changed: str = "everything") -> None:
    """What a render must pass: valid files and ruff, and then what the answers
    changed: "everything" runs the demo and all the project's own tests; "tasks"
    (the pool or the pattern: tasks.py) the demo and the tests of tasks.py; "text"
    (a license, the CI choice: no Python code) nothing more."""
    check_files_are_valid(project)
    check_ruff_is_clean(project)
    if changed == "text":
        return
    done = run("-m", project.name, "--no-progress", cwd=project, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 40  # one JSON line per demo item
    check_own_tests_pass(
        project, *(["tests/test_tasks.py"] if changed == "tasks" else [])
    )


def pyproject(project: Path) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))


TESTS = Path(__file__).resolve().parent


def render_once(tmp_path_factory, **answers) -> Path:
    """A project rendered for a whole test session, made importable here."""
    scratch = tmp_path_factory.mktemp("project")
    config = scratch / "config.yaml"
    config.write_text(json.dumps({"replay_dir": str(scratch / "replay")}))
    project = Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context=answers,
            output_dir=str(scratch / "out"),
            config_file=str(config),
        )
    )
    sys.path.insert(0, str(project))
    return project


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """The default project (package parallel_loop), importable: engine tests."""
    return render_once(tmp_path_factory)


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
        path = os.pathsep.join([str(where), str(TESTS)])
        package = {"PYTHONPATH": path, "PFOR_PACKAGE": where.name}
        changed = {**os.environ, **package, **(env or {})}
        return subprocess.Popen(
            [sys.executable, str(TESTS / "run_cli.py"), *map(str, args)],
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
        path = os.pathsep.join([str(project), str(TESTS)])
        return subprocess.Popen(
            [sys.executable, str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": path},
        )

    return start


def wait_for(condition, timeout=60, what="the run"):
    """Waits for an event, checking often, with a generous deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def processes_in_session(session) -> list[int]:
    """Live (not zombie) processes of a session (Linux: /proc): those of a process
    started with start_new_session=True (its id), whatever group they are in (each
    worker process has its own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def tool(name: str) -> str | None:
    """A command installed beside this Python (in its virtual environment)."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(
        name
    )


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


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: twice the CPUs. Most tests wait on the processes they start
    (a project's own tests, an install, a pool at work): one worker per CPU left
    the CPUs idle more than half the time."""
    return 2 * (os.cpu_count() or 1)
