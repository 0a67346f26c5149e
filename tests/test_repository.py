"""The template repository keeps its promises: CI runs the README's test command,
and the template's own code is lint-clean."""

import re

from conftest import TEMPLATE, run


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
