"""A newcomer answers the prompts in a real terminal (a pseudo-terminal here)."""

import json
import os
import sys

import pytest
from conftest import TEMPLATE, read

if sys.platform == "win32":
    pytest.skip(
        "pexpect drives pseudo-terminals, which are POSIX only", allow_module_level=True
    )

import pexpect  # noqa: E402

PROMPTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())["__prompts__"]

# (prompt, the default shown, what the newcomer types)
SESSION = [
    # Typed braces are text, not a template: the name keeps them.
    ("project_name", "Parallel Loop", "Image Tools {{ 7 * 7 }}"),
    ("project_slug", "image_tools_7_7", ""),
    ("description", "Runs a slow loop in parallel, with a progress bar.", ""),
    ("author_name", "Your Name", "Ada Lovelace"),
    ("author_email", "you@example.com", ""),
    ("pool", "1", "2"),
    ("max_workers", "os.cpu_count() // 2", "8"),
    ("pattern", "1", "2"),
    ("distributed", "1", ""),
    ("license", "1", "4"),
    ("ci", "1", "2"),
]


def test_every_prompt_is_covered_here():
    assert [key for key, _, _ in SESSION] == list(PROMPTS)


def test_a_newcomer_answers_the_prompts(tmp_path, config_file):
    # An 80-column terminal: every question and choice must fit on its line, since
    # expect_exact would not find one that wrapped.
    env = {**os.environ, "TERM": "dumb", "NO_COLOR": "1"}
    env.pop("COLUMNS", None)
    terminal = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "cookiecutter",
            "--config-file",
            str(config_file),
            "-o",
            str(tmp_path),
            str(TEMPLATE),
        ],
        encoding="utf-8",
        timeout=60,
        dimensions=(60, 80),
        env=env,
    )
    for key, default, answer in SESSION:
        prompt = PROMPTS[key]
        if isinstance(prompt, dict):  # a choice: its question, then each choice
            terminal.expect_exact(prompt["__prompt__"])
            for choice, label in prompt.items():
                if choice != "__prompt__":
                    terminal.expect_exact(label)
            terminal.expect_exact(f"({default}):")
        else:
            terminal.expect_exact(f"{prompt} ({default}):" if default else prompt)
        terminal.sendline(answer)
    terminal.expect(pexpect.EOF)
    terminal.close()
    assert terminal.exitstatus == 0, terminal.before

    project = tmp_path / "image_tools_7_7"
    tasks = read(project / "image_tools_7_7" / "tasks.py")
    assert 'POOL = "thread"' in tasks and "MAX_WORKERS = 8\n" in tasks
    assert 'PATTERN = "submit"' in tasks
    assert not (project / "LICENSE").exists() and not (project / ".github").exists()
    assert "Ada Lovelace" in read(project / "pyproject.toml")
    assert read(project / "README.md").startswith("# Image Tools {{ 7 * 7 }}\n")
