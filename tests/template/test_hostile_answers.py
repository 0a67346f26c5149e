"""Answers full of quotes, backslashes, newlines, braces and emoji render valid files
that keep the value intact."""

import unicodedata

import pytest

HOSTILE = [
    'Tom\'s "Fast" Loop',
    "back\\slash \\n \\u0041 \\",
    "two\nlines\r\tand a tab",
    "{{ x.pool }} {% set y = 1 %} {# no #} {%raw%}",
    "triple \"\"\" and ''' quotes",
    "Ünïcödé 日本語 🎉🐍 \U0001f9ea",
    "control \x01\x7f chars",
    "<script>&amp;</script> $HOME `id` $(id)",
]


def landed(value):
    """What cookiecutter hands the template: answers pass through Jinja, which turns
    every \r\n and lone \r into \n before any template sees them."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def one_line(value):
    """The project name is the README's title: the hook refuses line breaks and
    control characters in it, so they become spaces there."""
    breaks = ("Cc", "Zl", "Zp")
    return "".join(" " if unicodedata.category(c) in breaks else c for c in value)


def raw(value):
    """Cookiecutter renders every answer as Jinja; {% raw %} passes it as text,
    as typing it at the prompt does."""
    return "{% raw %}" + value + "{% endraw %}"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_text_lands_intact_and_valid(render, value):
    value = landed(value)
    name = f"Loop {one_line(value)}"
    project = render(
        project_name=raw(name),
        description=raw(value),
        author_name=raw(value),
    )
    project.check_files_are_valid(answers=[name, value])
    meta = project.pyproject()["project"]
    assert meta["description"] == value
    assert meta["authors"] == [{"name": value, "email": "you@example.com"}]
    readme = project.read("README.md")
    assert readme.startswith(f"# {name}\n\n{value}\n")
    assert value in project.read("LICENSE")
    project.check_ruff_is_clean()


def test_a_hostile_project_still_runs_and_passes_its_tests(render):
    value = landed("".join(HOSTILE))
    project = render(
        project_name=raw(one_line(value)),
        project_slug="hostile_loop",  # shorter than the one derived from all that
        description=raw(value),
        author_name=raw(value),
        author_email="o'neil+x@example.com",
    )
    meta = project.pyproject()["project"]
    assert meta["authors"] == [{"name": value, "email": "o'neil+x@example.com"}]
    done = project.run_cli("--no-progress")
    assert done.returncode == 0, done.stderr
    project.check_own_tests_pass()
