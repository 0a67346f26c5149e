"""Projects that stay up to date: cruft create, check and update, offline, against
a local git repository of this template."""

import os
import shutil
import subprocess

import pytest
from processes import run
from rendering import TEMPLATE, read

GIT = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(*args, cwd):
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={**os.environ, **GIT},
    )


def new_repository(folder, message: str) -> None:
    """Puts what a folder holds under git, in one commit."""
    git("init", "-q", cwd=folder)
    git("add", "-A", cwd=folder)
    git("commit", "-q", "-m", message, cwd=folder)


# What a copy of the template leaves out: git's folder, environments, caches.
NOT_THE_TEMPLATE = shutil.ignore_patterns(
    ".git", ".venv", "demo", "__pycache__", ".*_cache"
)


def cruft(*args, cwd):
    return run("-m", "cruft", *args, cwd=cwd, timeout=300)


@pytest.fixture
def template_repo(tmp_path):
    """This template, as a git repository of its own."""
    repo = tmp_path / "template"
    shutil.copytree(TEMPLATE, repo, ignore=NOT_THE_TEMPLATE)
    new_repository(repo, "template")
    return repo


def test_create_check_and_update_keep_local_edits(template_repo, tmp_path, config_file):
    done = cruft(
        "create",
        str(template_repo),
        "--no-input",
        "--config-file",
        str(config_file),
        "--output-dir",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    project = tmp_path / "out" / "parallel_loop"
    assert (project / ".cruft.json").is_file()
    for path in project.rglob("*"):  # no machine-specific paths of ours
        if path.is_file() and path.name != ".cruft.json":
            assert str(tmp_path) not in read(path) and str(TEMPLATE) not in read(path)

    # The team makes the project its own, under git.
    tasks = project / "parallel_loop" / "tasks.py"
    tasks.write_text(
        read(tasks).replace("# Demo: a checksum", "# Our loop body: a checksum")
    )
    new_repository(project, "our project")
    assert cruft("check", cwd=project).returncode == 0

    # The template improves.
    readme = template_repo / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(read(readme) + "\nA line the template added later.\n")
    git("commit", "-q", "-am", "template: a better README", cwd=template_repo)
    assert cruft("check", cwd=project).returncode != 0  # behind the template now

    done = cruft("update", "--skip-apply-ask", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "A line the template added later." in read(project / "README.md")
    assert "# Our loop body: a checksum" in read(tasks)  # the local edit survived
    assert cruft("check", cwd=project).returncode == 0


# The last commit of the template before its package took the three doors
# (cli/ and _engine/): projects made from it must update to the new layout.
BEFORE_THE_DOORS = "28884d4"


def test_a_project_made_before_the_doors_updates_to_them(tmp_path, config_file):
    found = subprocess.run(
        ["git", "archive", BEFORE_THE_DOORS],
        cwd=TEMPLATE,
        capture_output=True,
    )
    if found.returncode != 0:  # a copy of the template without its git history
        pytest.skip(f"needs the template's git history ({BEFORE_THE_DOORS})")
    repo = tmp_path / "template"
    repo.mkdir()
    subprocess.run(["tar", "-x"], input=found.stdout, cwd=repo, check=True)
    new_repository(repo, "before the doors")
    options = ["--no-input", "--config-file", str(config_file)]
    out = ["--output-dir", str(tmp_path / "out")]
    done = cruft("create", str(repo), *options, *out, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    project = tmp_path / "out" / "parallel_loop"
    assert (project / "parallel_loop" / "_pools.py").is_file()  # the old layout

    tasks = project / "parallel_loop" / "tasks.py"
    tasks.write_text(
        read(tasks).replace('f"demo item {number:02d}"', 'f"ours {number}"')
    )
    new_repository(project, "our project")

    # The template takes the three doors.
    for path in repo.iterdir():
        if path.name != ".git":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.copytree(TEMPLATE, repo, ignore=NOT_THE_TEMPLATE, dirs_exist_ok=True)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "three doors", cwd=repo)

    done = cruft("update", "--skip-apply-ask", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    package = project / "parallel_loop"
    assert {p.name for p in package.iterdir() if p.name != "__pycache__"} == {
        "__init__.py", "__main__.py", "tasks.py", "parallel.py", "cli", "_engine",
    }  # fmt: skip
    assert 'f"ours {number}"' in read(tasks)  # the edit survived the update
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert cruft("check", cwd=project).returncode == 0
