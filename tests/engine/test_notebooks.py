"""A loop body defined where worker processes cannot import it (a notebook cell,
python -c, stdin) fails at once on the process pool, with a message that names the
cause and the fix; never "a worker process died". The thread pool runs it, and a
long-lived session that edits its loop body gets the new code in the next run."""

import os
import subprocess
import sys
import textwrap

import nbclient
import nbformat
import pytest

BODY = """
from parallel_loop import parallel

def square(x):
    return x * x

if __name__ == "__main__":
    print(parallel.run_map(square, range(5), progress=False))
"""
CAUSE = "is defined in a notebook cell, python -c or stdin"
FIX = 'Move it into a module (a .py file beside the notebook, then import it from there), or use pool="thread"'


def python(project, *args, stdin=None):
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(project)},
    )


@pytest.mark.parametrize("how", ["python -c", "stdin"])
def test_a_loop_body_of_python_c_or_stdin_is_refused_with_the_fix(project, how):
    run = (
        python(project, "-c", BODY)
        if how == "python -c"
        else python(project, "-", stdin=BODY)
    )
    assert run.returncode == 1
    assert CAUSE in run.stderr and FIX in run.stderr, run.stderr
    assert "worker process died" not in run.stderr


def test_the_same_body_in_a_script_file_runs(project, tmp_path):
    script = tmp_path / "script.py"
    script.write_text(BODY)
    run = python(project, str(script))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[0, 1, 4, 9, 16]"


def test_python_c_with_fork_workers_has_the_body_already(project):
    code = BODY.replace(
        "from parallel_loop import parallel",
        "from parallel_loop import parallel\n"
        "from parallel_loop._engine import executors\n"
        "executors.START_METHOD = 'fork'",
    )
    run = python(project, "-W", "ignore::DeprecationWarning", "-c", code)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[0, 1, 4, 9, 16]"


CELLS = [
    """
    import importlib, sys
    sys.path[:0] = [{project!r}, {scratch!r}]
    from parallel_loop import parallel
    def square(x):
        return x * x
    """,
    """
    try:
        parallel.run_map(square, range(5), progress=False)
    except parallel.PoolError as exc:
        print("refused:", exc)
    """,
    "print('threads:', parallel.run_map(square, range(5), pool='thread', progress=False))",
    """
    def square(x):  # the cell edited and run again
        return -x * x
    print('edited:', parallel.run_map(square, range(5), pool='thread', progress=False))
    """,
    """
    import cell_body
    print('module:', parallel.run_map(cell_body.square, range(5), progress=False))
    """,
    """
    with open({body!r}, "w") as file:
        file.write("def square(x):\\n    return 1000 + x * x\\n")
    importlib.reload(cell_body)
    print('reloaded:', parallel.run_map(cell_body.square, range(5), progress=False))
    """,
]


def test_a_notebook_cell_in_a_real_kernel(project, tmp_path):
    body = tmp_path / "cell_body.py"
    body.write_text("def square(x):\n    return x * x\n")
    names = {"project": str(project), "scratch": str(tmp_path), "body": str(body)}
    cells = [
        nbformat.v4.new_code_cell(textwrap.dedent(c).format(**names)) for c in CELLS
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    said = "".join(
        output.get("text", "")
        for cell in notebook.cells
        for output in cell.outputs
        if output.get("name") == "stdout"
    )
    assert f"refused: the loop body square {CAUSE}" in said, said
    assert FIX in said
    assert "threads: [0, 1, 4, 9, 16]" in said
    assert "edited: [0, -1, -4, -9, -16]" in said
    assert "module: [0, 1, 4, 9, 16]" in said
    assert "reloaded: [1000, 1001, 1004, 1009, 1016]" in said
