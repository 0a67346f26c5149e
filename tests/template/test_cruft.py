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


def cruft(*args, cwd):
    return run("-m", "cruft", *args, cwd=cwd, timeout=300)


@pytest.fixture
def template_repo(tmp_path):
    """This template, as a git repository of its own."""
    repo = tmp_path / "template"
    skip = shutil.ignore_patterns(".git", ".venv", "demo", "__pycache__", ".*_cache")
    shutil.copytree(TEMPLATE, repo, ignore=skip)
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "template", cwd=repo)
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
    git("init", "-q", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "our project", cwd=project)
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
