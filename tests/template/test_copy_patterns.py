"""The two patterns can be copied: a newcomer who copies run_map or run_submit,
with the imports they name, into a file of their own, and puts a stdlib pool where
the comment says, gets a working parallel loop with a progress bar."""

import ast
import json
import os
import subprocess
import sys

import pytest
from processes import wait_for

PATTERNS = ("run_map", "run_submit")
ENGINE_POOL = "open_pool(pool, max_workers, **options)"


def copied(parallel_py: str, stdlib_pool: str) -> str:
    """The source a newcomer would copy from parallel.py: the two functions, the
    functions of parallel.py that they call, and the imports that they name
    (relative ones made absolute), with the engine's pool swapped for a stdlib one."""
    tree = ast.parse(parallel_py)
    functions = {
        node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)
    }
    wanted, used = list(PATTERNS), set()
    for name in wanted:  # grows as called functions of parallel.py are found
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Name):
                used.add(node.id)
                if node.id in functions and node.id not in wanted:
                    wanted.append(node.id)
    imports = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a for a in node.names if (a.asname or a.name) in used]
            names = [a for a in names if a.name != "open_pool"]  # swapped below
            if names and not (
                isinstance(node, ast.ImportFrom) and node.module == "__future__"
            ):
                node.names = names
                if isinstance(node, ast.ImportFrom) and node.level:
                    node.module = "parallel_loop" + (
                        f".{node.module}" if node.module else ""
                    )
                    node.level = 0
                imports.append(ast.unparse(node))
    bodies = [ast.get_source_segment(parallel_py, functions[name]) for name in wanted]
    for name in PATTERNS:
        assert bodies[wanted.index(name)].count(ENGINE_POOL) == 1, name
    code = "\n\n\n".join(bodies).replace(ENGINE_POOL, f"{stdlib_pool}(max_workers)")
    return (
        "\n".join(imports)
        + "\nfrom concurrent.futures import "
        + stdlib_pool
        + "\n\n\n"
        + code
    )


SCRIPT = """

if __name__ == "__main__":
    import json, operator, sys
    squares = run_map(abs, range(-500, 500), max_workers=2)
    products = run_submit(operator.mul, (n for n in range(1000)), max_workers=2)
    in_order = run_submit(operator.mul, list(range(1000)), max_workers=2)
    engine = [name for name in sys.modules if name.endswith(".parallel")]
    print(json.dumps([squares, products, in_order, engine]))
"""


@pytest.mark.parametrize("stdlib_pool", ["ProcessPoolExecutor", "ThreadPoolExecutor"])
def test_the_two_patterns_copied_into_a_fresh_file_run_on_a_stdlib_pool(
    project, tmp_path, stdlib_pool
):
    source = (project.package / "parallel.py").read_text()
    scratch = tmp_path / "my_loop.py"
    scratch.write_text(copied(source, stdlib_pool) + SCRIPT)
    run = subprocess.Popen(
        [sys.executable, str(scratch)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(project)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: run.poll() is not None, what="the copied patterns")
    stdout, stderr = run.communicate()
    assert run.returncode == 0, scratch.read_text() + stderr
    squares, products, in_order, engine = json.loads(stdout)
    assert squares == [abs(n) for n in range(-500, 500)]
    assert products == in_order == [n * n for n in range(1000)]
    assert engine == []  # parallel.py was not needed: the copy runs on its own
    assert stderr.count("1000/1000") == 2  # the bars of the two runs with a total
