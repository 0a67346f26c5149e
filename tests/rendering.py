"""Rendering the template in tests, isolated from the user's cookiecutter config,
and what every render must pass: shared by the template's tests, the engine's and
the matrix's."""

import json
import re
import subprocess
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


def write_config(folder: Path) -> Path:
    """A cookiecutter config of our own: no user defaults, no shared replay folder."""
    path = folder / "cookiecutter-config.yaml"
    settings = {
        "cookiecutters_dir": str(folder / "cookiecutters"),
        "replay_dir": str(folder / "replay"),
    }
    path.write_text(json.dumps(settings))  # JSON is YAML
    return path


def render(output_dir: Path, config_file: Path, overwrite=False, **answers) -> Path:
    """The template rendered with these answers into output_dir -> the project's
    folder. overwrite=True renders again over a project rendered before."""
    project = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        overwrite_if_exists=overwrite,
        extra_context=answers,
        output_dir=str(output_dir),
        config_file=str(config_file),
    )
    return Path(project)


def render_once(tmp_path_factory, **answers) -> Path:
    """A project rendered for a whole test session."""
    scratch = tmp_path_factory.mktemp("project")
    config = scratch / "config.yaml"
    config.write_text(json.dumps({"replay_dir": str(scratch / "replay")}))
    return render(scratch / "out", config, **answers)


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
