"""A newcomer answers the prompts in a real terminal (a pseudo-terminal here)."""

import json
import os
import sys

import pytest
from rendering import TEMPLATE, read

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
    ("layout", "1", ""),
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


def spawn_cookiecutter(tmp_path, config_file):
    """cookiecutter in an 80-column terminal: every question and choice must fit on
    its line, since expect_exact would not find one that wrapped."""
    env = {**os.environ, "TERM": "dumb", "NO_COLOR": "1"}
    env.pop("COLUMNS", None)
    return pexpect.spawn(
        sys.executable,
        [
            "-m",
            "cookiecutter",
            "--config-file",
            str(config_file),
            "-o",
            str(tmp_path),  # it exists, as "." does
            str(TEMPLATE),
        ],
        encoding="utf-8",
        timeout=60,
        dimensions=(60, 80),
        env=env,
    )


def answer(terminal, session, timeout=60):
    """Waits for each prompt of session with the default it shows, then types."""
    for key, default, answer in session:
        prompt = PROMPTS[key]
        if isinstance(prompt, dict):  # a choice: its question, then each choice
            terminal.expect_exact(prompt["__prompt__"], timeout=timeout)
            for choice, label in prompt.items():
                if choice != "__prompt__":
                    terminal.expect_exact(label, timeout=timeout)
            terminal.expect_exact(f"({default}):", timeout=timeout)
        else:
            shown = f"{prompt} ({default}):" if default else prompt
            terminal.expect_exact(shown, timeout=timeout)
        terminal.sendline(answer)


def finish(terminal):
    terminal.expect(pexpect.EOF)
    terminal.close()
    return terminal.before


def test_a_newcomer_answers_the_prompts(tmp_path, config_file):
    terminal = spawn_cookiecutter(tmp_path, config_file)
    answer(terminal, SESSION)
    output = finish(terminal)
    assert terminal.exitstatus == 0, output

    project = tmp_path / "image_tools_7_7"
    tasks = read(project / "image_tools_7_7" / "tasks.py")
    assert 'POOL = "thread"' in tasks and "MAX_WORKERS = 8\n" in tasks
    assert 'PATTERN = "submit"' in tasks
    assert not (project / "LICENSE").exists() and not (project / ".github").exists()
    assert "Ada Lovelace" in read(project / "pyproject.toml")
    assert read(project / "README.md").startswith("# Image Tools {{ 7 * 7 }}\n")


def test_an_emoji_name_gets_the_default_package_name(tmp_path, config_file):
    """Nothing in the name makes a package name: the default one is offered (it was
    an empty one, and cookiecutter then said the output folder already exists)."""
    terminal = spawn_cookiecutter(tmp_path, config_file)
    session = [("project_name", "Parallel Loop", "🚀🚀")]
    session += [("project_slug", "parallel_loop", "")]
    answer(terminal, session, timeout=15)
    terminal.sendline("\n" * 20)  # Enter at every other prompt
    output = finish(terminal)
    assert terminal.exitstatus == 0, output
    assert read(tmp_path / "parallel_loop" / "README.md").startswith("# 🚀🚀\n")


def test_a_newcomer_chooses_one_file(tmp_path, config_file):
    terminal = spawn_cookiecutter(tmp_path, config_file)
    session = [("project_name", "Parallel Loop", "Fetch All")]
    session += [("project_slug", "fetch_all", ""), ("layout", "1", "2")]
    answer(terminal, session)
    terminal.sendline("\n" * 20)  # Enter at every other prompt
    output = finish(terminal)
    assert terminal.exitstatus == 0, output
    project = tmp_path / "fetch_all"
    assert (project / "fetch_all.py").is_file()
    assert (project / "test_fetch_all.py").is_file()
    assert read(project / "README.md").startswith("# Fetch All\n")
    assert not (project / "pyproject.toml").exists()
    assert not (project / "fetch_all").exists() and not (project / "tests").exists()


def test_a_rejected_answer_says_how_to_get_the_answers_back(tmp_path, config_file):
    terminal = spawn_cookiecutter(tmp_path, config_file)
    answer(terminal, [("project_name", "Parallel Loop", "My Tool")])
    answer(terminal, [("project_slug", "my_tool", "my-tool")])
    terminal.sendline("\n" * 20)
    terminal.expect_exact("For example: project_slug='my_tool'")
    saved = tmp_path / "replay" / f"{TEMPLATE.name}.json"
    terminal.expect_exact(f"Your answers are saved in {saved}.")
    terminal.expect_exact(f"cookiecutter --config-file {config_file} --replay-file")
    finish(terminal)
    assert terminal.exitstatus == 1
    assert list(tmp_path.glob("my*")) == []
