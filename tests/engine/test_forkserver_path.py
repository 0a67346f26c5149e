"""Workers run the engine of the package that started them, even where another
copy of the package is installed: before Python 3.12.8 and 3.13.1 the forkserver
imported what it preloads with a sys.path of its own (CPython gh-117378), and
preloaded the installed copy. Seen with the README's quick start, whose demo
project is installed where the template's tests then run."""

import os
import shutil
import subprocess
import sys

from rendering import ENGINE

SCRIPT = """
import sys

sys.path.insert(0, {project!r})  # as the tests, a notebook or a script may do

import bodies
from parallel_loop._engine import executors
from parallel_loop.parallel import run_map

if __name__ == "__main__":
    executors.START_METHOD = "forkserver"
    for path in run_map(bodies.process_item, ["engine file"] * 2, max_workers=1,
                        progress=False):
        print(path)
"""


def test_workers_run_the_engine_of_the_package_that_started_them(project, tmp_path):
    other = tmp_path / "installed"
    shutil.copytree(project.package, other / project.name)  # another copy
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(project=str(project)))
    path = os.pathsep.join([str(other), str(ENGINE)])  # where site-packages would be
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": path, "PFOR_PACKAGE": project.name},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    files = done.stdout.split()
    assert len(files) == 2
    for file in files:
        assert file.startswith(str(project.package)), file
