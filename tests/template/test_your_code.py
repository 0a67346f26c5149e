"""The first hour with your own loop body, done as the generated READMEs say: a
dependency added where they say reaches pip, the tests' workflow and uv; and files
as items, with the README's CSV example pasted into tasks.py and a few samples
beside it, keep the generated tests green, and travel with an installed package."""

import ast
import os
import re
import subprocess
import sys

import pytest
from test_script_layout import UVX_PYTEST
from test_workflows import run_steps

# A small library the demo does not use, for a loop body of yours.
DEPENDENCY = "humanize>=4"


def python_block_with(text: str, needle: str) -> str:
    (code,) = [
        code
        for code in re.findall(r"```python\n(.*?)```", text, re.S)
        if needle in code
    ]
    return code


def use_humanize(code: str, imports: str, with_humanize: str) -> str:
    """The demo's loop body, using the dependency: its import put in the lines
    `imports` (as ruff sorts them), and a field of the result made with it."""
    result = '    return {"bytes": len(data),'
    assert imports in code and result in code
    code = code.replace(imports, with_humanize, 1)
    used = "    humanize.naturalsize(len(data))  # the loop body's own library\n"
    return code.replace(result, used + result, 1)


def fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    return venv


@pytest.mark.skipif(os.name == "nt", reason="the steps run in bash, from venv/bin")
def test_a_dependency_added_where_the_readme_says_reaches_the_workflow(
    render, tmp_path, uv
):
    project = render(ci="github")
    readme = project.read("README.md")
    assert "add it to\n  `dependencies` in `pyproject.toml`" in readme
    pyproject = project / "pyproject.toml"
    declared = 'dependencies = ["tqdm>=4.66"]'
    assert declared in pyproject.read_text()
    pyproject.write_text(
        pyproject.read_text().replace(
            declared, f'dependencies = ["tqdm>=4.66", "{DEPENDENCY}"]'
        )
    )
    tasks = project / "parallel_loop" / "tasks.py"
    imports = "from pathlib import Path\n"
    with_humanize = imports + "\nimport humanize\n"  # a block of its own
    tasks.write_text(use_humanize(tasks.read_text(), imports, with_humanize))
    # Lint, types and the tests, as the workflow runs them; then uv run.
    run_steps(project, fresh_venv(tmp_path))
    command = ["python", "-m", "parallel_loop", "--serial", "--no-progress"]
    done = uv("run", "--no-progress", *command, cwd=project)
    assert len(done.stdout.splitlines()) == 40  # the demo's items, each a result


@pytest.mark.skipif(os.name == "nt", reason="the steps run in bash, from venv/bin")
def test_a_dependency_added_to_the_scripts_block_reaches_the_workflow(
    render, tmp_path, uv
):
    project = render(ci="github", layout="script")
    script = project / "parallel_loop.py"
    code = script.read_text()
    declared = '# dependencies = ["tqdm>=4.66"]'
    assert declared in code and "--requirements-from-script" in project.read(
        "README.md"
    )
    code = code.replace(declared, f'# dependencies = ["tqdm>=4.66", "{DEPENDENCY}"]')
    imports = "\nfrom tqdm import tqdm\n"
    code = use_humanize(code, imports, "\nimport humanize" + imports)
    script.write_text(code)
    run_steps(project, fresh_venv(tmp_path))
    uv(*UVX_PYTEST, cwd=project)  # as its README says


def paste_files_example(project) -> None:
    """The README's CSV example in place of the demo's process_item and
    demo_items, and three small CSV files in the samples folder it names."""
    example = python_block_with(project.read("README.md"), "def demo_items")
    tasks = project / "parallel_loop" / "tasks.py"
    code = tasks.read_text()
    tree = ast.parse(code)
    replaced = {"process_item", "demo_items"}
    lines = code.splitlines(keepends=True)
    for node in sorted(tree.body, key=lambda n: n.lineno, reverse=True):
        if isinstance(node, ast.FunctionDef) and node.name in replaced:
            del lines[node.lineno - 1 : node.end_lineno]
    tasks.write_text("".join(lines) + "\n\n" + example)
    samples = project / "parallel_loop" / "samples"
    samples.mkdir()
    for number in range(3):  # as Excel writes them: a byte-order mark, CRLF
        rows = "id,name\r\n" + "".join(f"{i},n{i}\r\n" for i in range(number + 1))
        (samples / f"sample{number}.csv").write_bytes(b"\xef\xbb\xbf" + rows.encode())


def test_files_as_items_with_the_readmes_example(render, tmp_path):
    project = render()
    paste_files_example(project)
    done = project.run(
        "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", timeout=600
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    # The samples travel with the package: its demo, installed, run elsewhere.
    venv = fresh_venv(tmp_path)
    python = str(venv / "bin" / "python")
    install = [python, "-m", "pip", "install", "--quiet", str(project)]
    subprocess.run(install, check=True, capture_output=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ran = subprocess.run(
        [python, "-m", "parallel_loop", "--no-progress"],
        cwd=elsewhere, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    results = sorted(ran.stdout.splitlines())
    assert [line.split('"result": ')[1] for line in results] == [
        '{"rows": 1}}',
        '{"rows": 2}}',
        '{"rows": 3}}',
    ]
