"""The template repository keeps its promises: CI runs the README's test command,
and the template's own code is lint-clean."""

import re
import subprocess

from processes import run
from rendering import TEMPLATE


def quick_start_commands():
    readme = (TEMPLATE / "README.md").read_text()
    block = re.search(r"## Quick start.*?```sh\n(.*?)```", readme, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_exactly_the_readme_test_command():
    generate, test = quick_start_commands()
    ci = (TEMPLATE / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == test
    assert (
        "cookiecutter --no-input" in generate and "python -m parallel_loop" in generate
    )


def test_the_template_code_is_ruff_clean():
    for command in (["check", "."], ["format", "--check", "."]):
        done = run("-m", "ruff", *command, cwd=TEMPLATE)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_refs_the_readme_checks_out_exist():
    """`--checkout REF` in the README names a branch, tag or commit this repository
    has (it has no release tags yet: a tag named there must be made first)."""
    refs = re.findall(r"--checkout (\S+)", (TEMPLATE / "README.md").read_text())
    assert refs
    for ref in refs:
        found = [
            subprocess.run(
                ["git", "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"],
                cwd=TEMPLATE,
                capture_output=True,
            ).returncode
            == 0
            for name in (ref, f"origin/{ref}")
        ]
        assert any(found), f"README: --checkout {ref}: no such ref here"
