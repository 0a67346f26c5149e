"""Rendering the template in tests, isolated from the user's cookiecutter config,
and a rendered project as the tests use it (RenderedProject): shared by the
template's tests, the engine's and the matrix's."""

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from cookiecutter.main import cookiecutter
from processes import IGNORING_CTRL_C, run

TESTS = Path(__file__).resolve().parent
TEMPLATE = TESTS.parent
# The engine tests' helpers: bodies.py (loop bodies) and run_cli.py (the command
# line with them), which the matrix runs too.
ENGINE = TESTS / "engine"

LEFTOVER_TAG = re.compile(r"{%-? *(if|elif|else|endif|raw|endraw|for|endfor)\b")


def read(path: Path) -> str:
    """A file's text exactly, \r included."""
    return path.read_bytes().decode("utf-8")


# Starts a command (its stderr to a file) and prints its exit code and peak
# resident memory in KiB (Linux's unit), from a process of a few MB.
MEASURED_LAUNCH = (
    "import os, subprocess, sys\n"
    "with open(sys.argv[1], 'w') as log:\n"
    "    run = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=log)\n"
    "    _, status, usage = os.wait4(run.pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
)


class RenderedProject:
    """A project rendered from the template: where it is, its package (or its one
    file, for layout=script), its files, and how to run it: Python in its folder,
    its command line, its own tests, and its command line with the loop bodies of
    engine/bodies.py. Path-like: `project / "README.md"` is a Path, and it goes
    wherever a path does (cwd=, open(), str())."""

    def __init__(self, path):
        self.path = Path(path)

    @property
    def name(self) -> str:
        """The package's name (the script's, without .py): its folder's name."""
        return self.path.name

    @property
    def package(self) -> Path:
        """The package's folder (layout=package)."""
        return self.path / self.name

    @property
    def script(self) -> Path:
        """The one runnable file of layout=script."""
        return self.path / f"{self.name}.py"

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RenderedProject({str(self.path)!r})"

    def __truediv__(self, other) -> Path:
        return self.path / other

    def __eq__(self, other) -> bool:
        if not isinstance(other, RenderedProject):
            return NotImplemented
        return self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)

    def files(self) -> set[str]:
        """Its files, as paths from its folder with /, Python's caches left out."""
        return {
            path.relative_to(self.path).as_posix()
            for path in self.path.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }

    def read(self, *parts: str) -> str:
        """A file's text exactly, \r included: project.read("README.md")."""
        return read(self.path.joinpath(*parts))

    def pyproject(self) -> dict:
        return tomllib.loads(self.read("pyproject.toml"))

    def run(self, *args, timeout=300, env=None):
        """Runs this Python with args in its folder; env changes the environment."""
        return run(*args, cwd=self.path, timeout=timeout, env=env)

    def run_cli(self, *args, timeout=120, env=None):
        """Its command line, as a user starts it in its folder: python -m <package>
        ARGS, or python <script>.py ARGS for layout=script."""
        start = ["-m", self.name] if self.package.is_dir() else [self.script.name]
        return self.run(*start, *args, timeout=timeout, env=env)

    def start_cli(
        self, *args, python=sys.executable, env=None, stderr=subprocess.PIPE, **options
    ):
        """Starts its command line with the loop body of engine/bodies.py (through
        engine/run_cli.py), in its own process group as a terminal would. env
        changes the environment (None removes a variable); stderr may be a file."""
        path = os.pathsep.join([str(self.path), str(ENGINE)])
        package = {"PYTHONPATH": path, "PFOR_PACKAGE": self.name}
        changed = {**os.environ, **package, **(env or {})}
        return subprocess.Popen(
            [python, str(ENGINE / "run_cli.py"), *map(str, args)],
            stdout=options.pop("stdout", subprocess.PIPE),
            stderr=stderr,
            text=True,
            start_new_session=True,
            env={name: value for name, value in changed.items() if value is not None},
            **options,
        )

    def peak_mb_of_cli(self, *args, log, python=sys.executable) -> float:
        """Runs its command line (as start_cli does, stdout to nowhere, stderr to
        the file `log`) and returns its peak resident memory in MB, or its
        workers' if larger. Started from a small launcher of its own: a process
        started from this one, a test runner of many MB, would count this one's
        memory as its own."""
        path = os.pathsep.join([str(self.path), str(ENGINE)])
        env = {**os.environ, "PYTHONPATH": path, "PFOR_PACKAGE": self.name}
        command = [python, str(ENGINE / "run_cli.py"), *map(str, args)]
        done = subprocess.run(
            [python, "-S", "-c", MEASURED_LAUNCH, str(log), *command],
            capture_output=True, text=True, env=env, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        code, kib = map(int, done.stdout.split())
        assert code == 0, Path(log).read_text()[-2000:]
        return kib / 1024

    def check_files_are_valid(self, answers=()) -> None:
        """Every file parses for its type, and no template syntax was left behind
        (other than inside the answers given)."""
        for path in self.path.rglob("*"):
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

    def check_ruff_is_clean(self) -> None:
        for command in (["check", "."], ["format", "--check", "."]):
            done = self.run("-m", "ruff", *command)
            assert done.returncode == 0, done.stdout + done.stderr

    def check_own_tests_pass(self, *paths: str) -> None:
        """Its own tests (or only those in `paths`) pass, started as in the
        background."""
        try:
            done = self.run(
                *IGNORING_CTRL_C,
                "-m",
                "pytest",
                "-vv",
                "-p",
                "no:cacheprovider",
                *paths,
                timeout=600,
            )
        except subprocess.TimeoutExpired as timeout:  # say where it hung
            output = timeout.stdout or b""  # bytes, even with text=True
            if isinstance(output, bytes):
                output = output.decode(errors="replace")
            raise AssertionError(
                f"the project's tests hung:\n{output[-6000:]}"
            ) from None
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]

    def check(self, changed: str = "everything") -> None:
        """What a render must pass: valid files and ruff, and then what the answers
        changed: "everything" runs the demo and all its own tests; "tasks" (the
        pool or the pattern: tasks.py) the demo and the tests of tasks.py; "text"
        (a license, the CI choice: no Python code) nothing more."""
        self.check_files_are_valid()
        self.check_ruff_is_clean()
        if changed == "text":
            return
        done = self.run_cli("--no-progress")
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.splitlines()) == 40  # one JSON line per demo item
        self.check_own_tests_pass(
            *(["tests/test_tasks.py"] if changed == "tasks" else [])
        )


def write_config(folder: Path) -> Path:
    """A cookiecutter config of our own: no user defaults, no shared replay folder."""
    path = folder / "cookiecutter-config.yaml"
    settings = {
        "cookiecutters_dir": str(folder / "cookiecutters"),
        "replay_dir": str(folder / "replay"),
    }
    path.write_text(json.dumps(settings))  # JSON is YAML
    return path


def render(
    output_dir: Path, config_file: Path, overwrite=False, **answers
) -> RenderedProject:
    """The template rendered with these answers into output_dir. overwrite=True
    renders again over a project rendered before."""
    project = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        overwrite_if_exists=overwrite,
        extra_context=answers,
        output_dir=str(output_dir),
        config_file=str(config_file),
    )
    return RenderedProject(project)


def render_once(tmp_path_factory, **answers) -> RenderedProject:
    """A project rendered for a whole test session (or module)."""
    scratch = tmp_path_factory.mktemp("project")
    return render(scratch / "out", write_config(scratch), **answers)


# PEP 723's reference regular expression for a metadata block.
BLOCK = re.compile(
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
)


def script_metadata(text: str) -> dict:
    """The script's PEP 723 metadata, read as the specification's reference code
    reads it: exactly one `script` block, its lines without the leading `# `."""
    blocks = [m for m in BLOCK.finditer(text) if m.group("type") == "script"]
    assert len(blocks) == 1, "one script block"
    lines = blocks[0].group("content").splitlines(keepends=True)
    return tomllib.loads(
        "".join(line[2:] if line.startswith("# ") else line[1:] for line in lines)
    )
