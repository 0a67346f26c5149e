"""Every option renders a valid, clean project whose own tests pass."""

import itertools
import json

import pytest
from processes import run
from rendering import TEMPLATE, RenderedProject

CHOICES = {
    key: value
    for key, value in json.loads((TEMPLATE / "cookiecutter.json").read_text()).items()
    if isinstance(value, list) and not key.startswith("_")
}


def test_every_choice_prompt_is_covered_here():
    # A new choice prompt must be added to the tests below.
    assert set(CHOICES) == {"layout", "pool", "pattern", "distributed", "license", "ci"}


def check_choices(project, slug, pool, pattern, max_workers="None"):
    tasks = (project / slug / "tasks.py").read_text()
    assert f'POOL = "{pool}"' in tasks
    assert f'PATTERN = "{pattern}"' in tasks
    assert f"MAX_WORKERS = {max_workers}\n" in tasks
    if pool == "process":
        assert "FNV-1a" in tasks and "time.sleep" not in tasks
    else:
        assert "time.sleep" in tasks and "FNV-1a" not in tasks


# A reference render's name: its slug, made neutral in code_of, appears in no code
# (a name such as "Reference" would turn the words "reference count" into PKG).
REFERENCE = "Zq Render"


def code_of(project, leave_out="tasks.py") -> dict[str, bytes]:
    """The project's Python files but <package>/tasks.py, the package's name made
    neutral: renders whose code_of is the same differ at most in tasks.py."""
    slug = project.name
    return {
        name.replace(slug, "PKG"): (project / name)
        .read_bytes()
        .replace(slug.encode(), b"PKG")
        for name in project.files()
        if name.endswith(".py") and not (leave_out and name == f"{slug}/{leave_out}")
    }


@pytest.mark.parametrize(
    "pool, pattern", list(itertools.product(CHOICES["pool"], CHOICES["pattern"]))
)
def test_pool_and_pattern_render_a_project_that_runs_and_passes(render, pool, pattern):
    project = render(pool=pool, pattern=pattern)
    assert project.name == "parallel_loop"
    check_choices(project, "parallel_loop", pool, pattern)
    done = project.run_cli("--no-progress")
    assert f"{pattern} pattern, {pool} pool" in done.stderr
    # Only tasks.py differs from the defaults' render (checked here), so only its
    # own tests need to run: test_workflows.py runs all of them on the defaults.
    if (pool, pattern) != ("process", "map"):
        assert code_of(project) == code_of(render(project_name=REFERENCE))
    project.check(changed="tasks")


def test_the_defaults(render):
    project = render()
    meta = project.pyproject()["project"]
    assert meta["name"] == "parallel_loop"
    assert meta["dependencies"] == ["tqdm>=4.66"]
    assert meta["optional-dependencies"]["test"] == ["pytest>=8"]
    assert meta["scripts"] == {"parallel-loop": "parallel_loop.cli:run"}
    assert meta["license"] == "MIT"
    assert meta["requires-python"] == ">=3.10"
    check_choices(project, "parallel_loop", "process", "map")
    assert (project / "LICENSE").read_text().startswith("MIT License")
    assert (project / ".github" / "workflows" / "tests.yml").is_file()
    expected = {
        ".github/dependabot.yml",
        ".github/workflows/template-updates.yml",
        ".pre-commit-config.yaml",
        ".github/workflows/tests.yml",
        ".gitignore",
        "LICENSE",
        "README.md",
        "pyproject.toml",
        *(
            f"parallel_loop/{name}.py"
            for name in (
                "__init__",
                "__main__",
                "parallel",
                "tasks",
                "_engine/__init__",
                "_engine/batches",
                "_engine/cpython",
                "_engine/ctrl_c",
                "_engine/errors",
                "_engine/executors",
                "_engine/futures",
                "_engine/outcomes",
                "_engine/pool",
                "_engine/rate",
                "_engine/recycling",
                "_engine/resources",
                "_engine/stops",
                "_engine/turns",
                "_engine/worker_calls",
                "_engine/worker_count",
                "_engine/worker_start",
                "_engine/workers",
                "cli/__init__",
                "cli/arguments",
                "cli/bench",
                "cli/command",
                "cli/output",
                "cli/running",
                "cli/sources",
                "cli/timeline",
            )
        ),
        *(
            f"tests/{name}.py"
            for name in (
                "conftest",
                "fake_tasks",
                "test_cli",
                "test_parallel",
                "test_tasks",
            )
        ),
    }
    assert project.files() == expected


@pytest.mark.parametrize("license", ["MIT", "BSD-3-Clause", "Apache-2.0", "none"])
def test_every_license(render, license):
    project = render(license=license, author_name="Ada Lovelace")
    project.check(changed="text")  # no Python code changes: checked here
    assert code_of(project, "") == code_of(render(project_name=REFERENCE), "")
    meta = project.pyproject()["project"]
    if license == "none":
        assert not (project / "LICENSE").exists()
        assert "license" not in meta and "license-files" not in meta
        return
    text = (project / "LICENSE").read_text()
    assert "Ada Lovelace" in text and text.endswith("\n") and not text.startswith("\n")
    first_line = {"MIT": "MIT License", "BSD-3-Clause": "BSD 3-Clause License"}
    assert text.splitlines()[0] == first_line.get(license, "Apache License")
    assert meta["license"] == license and meta["license-files"] == ["LICENSE"]


def test_ci_none_leaves_no_workflow(render):
    project = render(ci="none")
    assert not (project / ".github").exists()
    project.check(changed="text")  # no Python code changes: checked here
    assert code_of(project, "") == code_of(render(project_name=REFERENCE), "")


def test_ci_github_workflow_runs_tests_and_ruff(render):
    import yaml

    project = render(ci="github")
    workflow = yaml.safe_load((project / ".github/workflows/tests.yml").read_text())
    assert workflow["permissions"] == {"contents": "read"}
    steps = workflow["jobs"]["test"]["steps"]
    commands = [step.get("run") for step in steps]
    assert "python -m pytest" in commands and "ruff check ." in commands
    for step in steps:
        if "uses" in step:
            assert len(step["uses"].split("@")[1]) == 40  # pinned to a commit


def test_max_workers_number_and_slug(render):
    project = render(max_workers="4", project_name="Image Resizer", pool="thread")
    assert project.name == "image_resizer"
    check_choices(project, "image_resizer", "thread", "map", max_workers="4")
    project.check()
    done = project.run_cli("--help")
    assert done.returncode == 0 and "--workers N" in done.stdout


def test_the_cookiecutter_command_line(tmp_path, config_file):
    done = run(
        "-m",
        "cookiecutter",
        "--no-input",
        "--config-file",
        str(config_file),
        "-o",
        str(tmp_path),
        str(TEMPLATE),
        "pool=thread",
        "project_name=Fetch All",
    )
    assert done.returncode == 0, done.stderr
    project = RenderedProject(tmp_path / "fetch_all")
    check_choices(project, "fetch_all", "thread", "map")
    # The same files as the API's thread/map render, whose own tests run above.
    project.check_files_are_valid()
    project.check_ruff_is_clean()
    done = project.run_cli("--no-progress")
    assert done.returncode == 0, done.stderr


def test_the_project_builds_a_wheel(render, tmp_path):
    project = render()
    done = run(
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(tmp_path / "wheels"),
        str(project),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert list((tmp_path / "wheels").glob("parallel_loop-0.1.0-*.whl"))


def test_distributed_dask_runs_on_a_cluster(render):
    project = render(distributed="dask", pool="thread")
    meta = project.pyproject()["project"]
    assert meta["optional-dependencies"]["dask"] == ["dask[distributed]>=2024.1"]
    assert "dask[distributed]>=2024.1" in meta["optional-dependencies"]["test"]
    assert meta["dependencies"] == ["tqdm>=4.66"]  # Dask stays optional
    assert (project / "tests" / "test_dask_pool.py").is_file()
    assert (project.package / "dask_pool.py").is_file()
    project.check()
    done = project.run_cli("--pool", "dask", "--workers", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 40


def test_distributed_none_leaves_no_trace_of_dask(render):
    project = render(distributed="none")
    for name in project.files():
        assert "dask" not in project.read(name).lower(), name
    done = project.run_cli("--pool", "dask")
    assert done.returncode == 2 and "invalid choice: 'dask'" in done.stderr
