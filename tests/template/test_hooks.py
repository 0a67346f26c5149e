"""The pre-generation hook rejects bad answers clearly, suggests one made from what
was typed, says how to generate again without retyping, and writes nothing."""

import json
import keyword
import runpy
import shlex
import sys

import pytest
from cookiecutter.environment import StrictEnvironment
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter
from processes import run
from rendering import TEMPLATE, RenderedProject, read

BAD_ANSWERS = [
    # (answers, the prompt named in the message, the value shown, the example given)
    ({"project_name": ""}, "project_name", "", "Parallel Loop"),
    ({"project_name": "   "}, "project_name", "   ", "Parallel Loop"),
    ({"project_name": "\n"}, "project_name", "\n", "Parallel Loop"),
    # The name is the README's title: one line.
    ({"project_name": "Image\nTools"}, "project_name", "Image\nTools", "Image Tools"),
    ({"project_name": "Tab\tTools"}, "project_name", "Tab\tTools", "Tab Tools"),
    ({"project_name": "Red \x1b[31m"}, "project_name", "Red \x1b[31m", "Red [31m"),
    ({"project_name": "Delete\x7f \x85"}, "project_name", "Delete\x7f \x85", "Delete"),
    ({"project_name": "A\u2028B\u2029C"}, "project_name", "A\u2028B\u2029C", "A B C"),
    # The example is made from what was typed, and is itself accepted.
    ({"project_slug": "my-tool"}, "project_slug", "my-tool", "my_tool"),
    ({"project_slug": "3d_render"}, "project_slug", "3d_render", "render_3d"),
    ({"project_slug": "My_Loop"}, "project_slug", "My_Loop", "my_loop"),
    ({"project_slug": "café"}, "project_slug", "café", "cafe"),
    ({"project_slug": "class"}, "project_slug", "class", "class_loop"),
    ({"project_slug": "json"}, "project_slug", "json", "json_loop"),
    ({"project_slug": "test"}, "project_slug", "test", "test_loop"),
    ({"project_slug": "queue"}, "project_slug", "queue", "queue_loop"),
    ({"project_slug": "tests"}, "project_slug", "tests", "tests_loop"),
    ({"project_slug": "tqdm"}, "project_slug", "tqdm", "tqdm_loop"),
    ({"project_slug": "con"}, "project_slug", "con", "con_loop"),
    ({"project_slug": "lpt1"}, "project_slug", "lpt1", "lpt1_loop"),
    ({"project_slug": "__init__"}, "project_slug", "__init__", "init"),
    ({"project_slug": "../../etc"}, "project_slug", "../../etc", "etc"),
    (
        {"project_slug": "x'; import os #"},
        "project_slug",
        "x'; import os #",
        "x_import_os",
    ),
    ({"project_slug": "x" * 65}, "project_slug", "x" * 65, "x" * 64),
    ({"project_slug": "ab_" * 30}, "project_slug", "ab_" * 30, "_".join(["ab"] * 21)),
    # Nothing usable left: the fixed example.
    ({"project_slug": "2024"}, "project_slug", "2024", "parallel_loop"),
    ({"project_slug": "日本語"}, "project_slug", "日本語", "parallel_loop"),
    ({"project_name": "2024 Report"}, "project_slug", "2024_report", "report_2024"),
    ({"max_workers": "0"}, "max_workers", "0", "4"),
    ({"max_workers": "-2"}, "max_workers", "-2", "4"),
    ({"max_workers": "four"}, "max_workers", "four", "4"),
    ({"max_workers": "1.5"}, "max_workers", "1.5", "4"),
    ({"max_workers": "+4"}, "max_workers", "+4", "4"),
    ({"max_workers": "²"}, "max_workers", "²", "4"),
    ({"max_workers": "100000"}, "max_workers", "100000", "4"),
    ({"max_workers": "os.cpu_count()"}, "max_workers", "os.cpu_count()", "4"),
    (
        {"author_email": "not an email"},
        "author_email",
        "not an email",
        "you@example.com",
    ),
    ({"author_email": 'a@b.c"\n[x]'}, "author_email", 'a@b.c"\n[x]', "you@example.com"),
    # One file has no cluster option: the example keeps the script.
    ({"layout": "script", "distributed": "dask"}, "distributed", "dask", "none"),
]


@pytest.mark.parametrize("answers, field, shown, example", BAD_ANSWERS)
def test_a_bad_answer_is_named_and_nothing_is_written(
    render, tmp_path, capfd, answers, field, shown, example
):
    with pytest.raises(FailedHookException):
        render(**answers)
    err = capfd.readouterr().err
    assert f"error: {field} {shown!r} is not accepted" in err
    assert f"For example: {field}={example!r}" in err
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []
    # The example given is accepted in place of the bad answer.
    assert render(**{**answers, field: example}).path.is_dir()


@pytest.mark.parametrize(
    "answers",
    [
        {"max_workers": "os.cpu_count() // 2"},
        {"max_workers": " 8 "},
        {"max_workers": "1024"},
        {"author_email": ""},
        {"project_slug": "_private_loop"},
        {"project_slug": "match"},  # a soft keyword is a fine module name
        {"project_name": "Ünïcödé 日本語 🎉🐍 \u200d"},  # a joiner is not a control
        {"layout": "package", "distributed": "dask"},
        {"layout": "script", "pool": "thread", "pattern": "submit", "ci": "none"},
    ],
)
def test_good_answers_pass(render, answers):
    assert render(**answers).path.is_dir()


@pytest.mark.parametrize(
    "name, slug",
    [
        # Nothing to derive a package name from: the default one, not an empty
        # folder name (which cookiecutter took for the output folder itself).
        ("🚀🚀", "parallel_loop"),
        ("!!! ???", "parallel_loop"),
        # Too long for a package name (or any file name: 300 ended in OSError).
        ("x" * 300, "x" * 64),
        ("Word " * 60, "_".join(["word"] * 13)),  # 64 characters
        ("Image resizing " * 10, "_".join(["image_resizing"] * 4)),  # whole words
    ],
)
def test_the_package_name_derived_from_any_name_is_usable(render, name, slug):
    project = render(project_name=name)
    assert project.name == slug
    assert (project.package / "__init__.py").is_file()
    assert project.read("README.md").startswith(f"# {name}\n")


def hook_functions():
    """The pre_gen hook's functions, rendered with the default answers."""
    context = {"cookiecutter": json.loads((TEMPLATE / "cookiecutter.json").read_text())}
    context["cookiecutter"].update(project_slug="parallel_loop")
    env = StrictEnvironment(context=context)
    source = (TEMPLATE / "hooks" / "pre_gen_project.py").read_text(encoding="utf-8")
    return env.from_string(source).render(**context)


@pytest.fixture(scope="module")
def hook(tmp_path_factory):
    path = tmp_path_factory.mktemp("hook") / "pre_gen_project.py"
    path.write_text(hook_functions(), encoding="utf-8")
    return runpy.run_path(str(path))  # not __main__: nothing runs


def test_the_suggested_package_name_is_never_one_the_hook_rejects(hook):
    """Every keyword, standard-library module and reserved name, as typed, gets a
    suggestion the hook itself accepts."""
    typed = [
        *keyword.kwlist,
        *sys.stdlib_module_names,
        *hook["TAKEN"],
        *hook["WINDOWS_RESERVED"],
        *(name.upper() for name in hook["WINDOWS_RESERVED"]),
        "__main__",
        "_" * 5,
        "9" * 70,
        "a" + "-b" * 40,
    ]
    for value in typed:
        suggestion = hook["suggest_slug"](value)
        assert hook["slug_problem"](suggestion) is None, (value, suggestion)
        assert suggestion != value


def test_a_rejected_run_says_how_to_generate_again_without_retyping(
    render, tmp_path, capfd
):
    with pytest.raises(FailedHookException):
        render(project_slug="my-tool", author_name="Ada Lovelace", pool="thread")
    err = capfd.readouterr().err
    # Cookiecutter saved the answers before generating: <replay_dir>/<template>.json
    saved = tmp_path / "replay" / f"{TEMPLATE.name}.json"
    assert f"Your answers are saved in {saved}." in err
    assert "correct project_slug in that file, then run:" in err
    command = next(line for line in err.splitlines() if line.startswith("    "))
    args = shlex.split(command)
    assert args[:3] == ["cookiecutter", "--replay-file", str(saved)]
    assert args[3:] == ["-o", str(tmp_path / "out"), str(TEMPLATE)]

    # Correct the answer in the file, run the command given: the other answers stay.
    answers = json.loads(saved.read_text(encoding="utf-8"))
    answers["cookiecutter"]["project_slug"] = "my_tool"
    saved.write_text(json.dumps(answers), encoding="utf-8")
    done = run("-m", *args)  # python -m cookiecutter ...
    assert done.returncode == 0, done.stderr
    project = RenderedProject(tmp_path / "out" / "my_tool")
    assert project.pyproject()["project"]["authors"][0]["name"] == "Ada Lovelace"
    assert 'POOL = "thread"' in project.read("my_tool", "tasks.py")


def test_the_advice_for_a_bad_worker_count_gives_the_corrected_count(
    render, tmp_path, capfd
):
    with pytest.raises(FailedHookException):
        render(max_workers="abc")
    err = capfd.readouterr().err
    assert "correct max_workers in that file, then run:" in err
    command = next(line for line in err.splitlines() if line.startswith("    "))
    saved = tmp_path / "replay" / f"{TEMPLATE.name}.json"
    answers = json.loads(saved.read_text(encoding="utf-8"))
    answers["cookiecutter"]["max_workers"] = "4"  # as the advice says
    saved.write_text(json.dumps(answers), encoding="utf-8")
    done = run("-m", *shlex.split(command))
    assert done.returncode == 0, done.stderr
    tasks = read(tmp_path / "out" / "parallel_loop" / "parallel_loop" / "tasks.py")
    assert "\nMAX_WORKERS = 4\n" in tasks


def test_answers_saved_by_another_run_are_not_offered(tmp_path, config_file, capfd):
    """A library call with a config of its own saves its answers elsewhere; the file
    the hook would name holds another run's answers and is not offered."""
    stale = tmp_path / "replay" / f"{TEMPLATE.name}.json"
    stale.parent.mkdir()
    stale.write_text(json.dumps({"cookiecutter": {"project_slug": "old_one"}}))
    other = tmp_path / "other-config.yaml"
    other.write_text(json.dumps({"replay_dir": str(tmp_path / "other-replay")}))
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context={"project_slug": "my-tool"},
            output_dir=str(tmp_path / "out"),
            config_file=str(other),
        )
    err = capfd.readouterr().err
    assert "error: project_slug 'my-tool' is not accepted" in err
    assert "Your answers are saved" not in err and "--replay" not in err


def cookiecutter_command(*args, cwd=None):
    """The cookiecutter command line, with --no-input, in a subprocess (which gets
    the environment as monkeypatch left it)."""
    return run("-m", "cookiecutter", "--no-input", *args, cwd=cwd)


def test_the_command_line_ends_on_the_reason_not_a_traceback(tmp_path, config_file):
    done = cookiecutter_command(
        "-o", str(tmp_path / "out"), str(TEMPLATE), "project_slug=my-tool"
    )
    assert done.returncode == 1
    assert "error: project_slug 'my-tool' is not accepted" in done.stderr
    assert "cookiecutter --config-file" not in done.stderr  # none was given
    assert "Traceback" not in done.stdout + done.stderr, done.stdout
    assert done.stdout.endswith("Hook script failed (exit status: 1)\n")  # click.echo


def write_config(path, tmp_path, default_context):
    """A cookiecutter config with a default_context, kept apart from the user's."""
    settings = {
        "cookiecutters_dir": str(tmp_path / "cookiecutters"),
        "replay_dir": str(tmp_path / "replay"),
        "default_context": default_context,
    }
    path.write_text(json.dumps(settings))  # JSON is YAML
    return path


# Cookiecutter 2.7.1 warns about "threads", leaves pool's default as it was, and
# drops license and ci too: the project would get a LICENSE and a workflow.
BAD_CONFIG = {"author_name": "Ada", "pool": "threads", "license": "none", "ci": "none"}


@pytest.mark.parametrize(
    "given_by",
    ["--config-file", "relative --config-file", "COOKIECUTTER_CONFIG", "HOME"],
)
def test_a_config_value_that_is_not_a_choice_is_named(
    tmp_path, config_file, monkeypatch, given_by
):
    bad = write_config(tmp_path / "bad-config.yaml", tmp_path, BAD_CONFIG)
    args = ["-o", str(tmp_path / "out"), str(TEMPLATE)]
    if given_by == "--config-file":  # while COOKIECUTTER_CONFIG names a good one
        args = ["--config-file", str(bad), *args]
    elif given_by == "relative --config-file":  # cookiecutter renders hooks elsewhere
        args = ["--config-file", bad.name, *args]
    elif given_by == "COOKIECUTTER_CONFIG":
        monkeypatch.setenv("COOKIECUTTER_CONFIG", str(bad))
    else:  # ~/.cookiecutterrc
        bad = bad.rename(tmp_path / ".cookiecutterrc")
        monkeypatch.delenv("COOKIECUTTER_CONFIG")
        monkeypatch.setenv("HOME", str(tmp_path))
    done = cookiecutter_command(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert (
        f"error: pool 'threads' is not accepted: in the default_context of {bad} "
        "it is not one of the choices 'process', 'thread'; cookiecutter ignored it "
        "and the keys after it (license, ci). For example: pool: thread"
    ) in done.stderr
    assert f"Correct {bad}, then run cookiecutter again." in done.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_every_bad_config_choice_is_named(tmp_path, config_file):
    write_config(config_file, tmp_path, {"license": "GPL", "pool": ["process", "x"]})
    done = cookiecutter_command("-o", str(tmp_path / "out"), str(TEMPLATE))
    assert done.returncode == 1
    assert "error: license 'GPL' is not accepted" in done.stderr
    assert "ignored it and the keys after it (pool)" in done.stderr
    assert "error: pool ['process', 'x'] is not accepted" in done.stderr


@pytest.mark.parametrize(
    "default_context",
    [
        # Good choices, and keys this template does not have (a config serves many).
        {"pool": "thread", "license": "none", "ci": "none", "full_name": "Ada"},
        {"pool": "thread", "distributed": "none", "open_source_license": "GPL"},
    ],
)
def test_a_good_config_applies(tmp_path, config_file, default_context):
    write_config(config_file, tmp_path, default_context)
    done = cookiecutter_command("-o", str(tmp_path / "out"), str(TEMPLATE))
    assert done.returncode == 0, done.stderr
    project = tmp_path / "out" / "parallel_loop"
    assert 'POOL = "thread"' in read(project / "parallel_loop" / "tasks.py")


def test_default_config_ignores_the_config_files(tmp_path, config_file):
    write_config(config_file, tmp_path, BAD_CONFIG)  # COOKIECUTTER_CONFIG names it
    done = cookiecutter_command(
        "--default-config", "-o", str(tmp_path / "out"), str(TEMPLATE)
    )
    assert done.returncode == 0, done.stderr


def test_hooks_can_run_twice(render):
    first = render(ci="none", license="none")
    again = render(overwrite=True, ci="none", license="none")
    assert first == again
    assert not (first / ".github").exists() and not (first / "LICENSE").exists()
