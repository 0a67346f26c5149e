"""The pre-generation hook rejects bad answers clearly, and writes nothing."""

import pytest
from cookiecutter.exceptions import FailedHookException

EXAMPLES = {
    "project_name": "'Parallel Loop'",
    "project_slug": "'parallel_loop'",
    "max_workers": "'4'",
    "author_email": "'you@example.com'",
}
BAD_ANSWERS = [
    # (answers, the prompt named in the message, the value shown)
    ({"project_name": ""}, "project_name", ""),
    ({"project_name": "   "}, "project_name", "   "),
    ({"project_slug": "3d_render"}, "project_slug", "3d_render"),
    ({"project_slug": "my-loop"}, "project_slug", "my-loop"),
    ({"project_slug": "My_Loop"}, "project_slug", "My_Loop"),
    ({"project_slug": "café"}, "project_slug", "café"),
    ({"project_slug": "class"}, "project_slug", "class"),
    ({"project_slug": "json"}, "project_slug", "json"),
    ({"project_slug": "test"}, "project_slug", "test"),
    ({"project_slug": "queue"}, "project_slug", "queue"),
    ({"project_slug": "tests"}, "project_slug", "tests"),
    ({"project_slug": "tqdm"}, "project_slug", "tqdm"),
    ({"project_slug": "con"}, "project_slug", "con"),
    ({"project_slug": "lpt1"}, "project_slug", "lpt1"),
    ({"project_slug": "__init__"}, "project_slug", "__init__"),
    ({"project_slug": "../../etc"}, "project_slug", "../../etc"),
    ({"project_slug": "x'; import os #"}, "project_slug", "x'; import os #"),
    ({"project_name": "🎉🎉"}, "project_slug", ""),  # nothing left to derive from
    ({"project_name": "2024 Report"}, "project_slug", "2024_report"),
    ({"project_name": "x" * 65}, "project_slug", "x" * 65),
    ({"max_workers": "0"}, "max_workers", "0"),
    ({"max_workers": "-2"}, "max_workers", "-2"),
    ({"max_workers": "four"}, "max_workers", "four"),
    ({"max_workers": "1.5"}, "max_workers", "1.5"),
    ({"max_workers": "+4"}, "max_workers", "+4"),
    ({"max_workers": "²"}, "max_workers", "²"),
    ({"max_workers": "100000"}, "max_workers", "100000"),
    ({"max_workers": "os.cpu_count()"}, "max_workers", "os.cpu_count()"),
    ({"author_email": "not an email"}, "author_email", "not an email"),
    ({"author_email": 'a@b.c"\n[x]'}, "author_email", 'a@b.c"\n[x]'),
]


@pytest.mark.parametrize("answers, field, shown", BAD_ANSWERS)
def test_a_bad_answer_is_named_and_nothing_is_written(
    render, tmp_path, capfd, answers, field, shown
):
    with pytest.raises(FailedHookException):
        render(**answers)
    err = capfd.readouterr().err
    assert f"error: {field} {shown!r} is not accepted" in err
    assert f"For example: {field}={EXAMPLES[field]}" in err
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize(
    "answers",
    [
        {"max_workers": "os.cpu_count() // 2"},
        {"max_workers": " 8 "},
        {"max_workers": "1024"},
        {"author_email": ""},
        {"project_slug": "_private_loop"},
        {"project_slug": "match"},  # a soft keyword is a fine module name
    ],
)
def test_good_answers_pass(render, answers):
    assert render(**answers).is_dir()


def test_hooks_can_run_twice(render, tmp_path, config_file):
    from conftest import TEMPLATE
    from cookiecutter.main import cookiecutter

    first = render(ci="none", license="none")
    again = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        overwrite_if_exists=True,
        extra_context={"ci": "none", "license": "none"},
        output_dir=str(tmp_path / "out"),
        config_file=str(config_file),
    )
    assert str(first) == again
    assert not (first / ".github").exists() and not (first / "LICENSE").exists()
