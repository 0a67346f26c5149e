"""Runs a rendered project's command line with the loop body of bodies.py:
python run_cli.py ARGS..., with the package named by $PFOR_PACKAGE and the start
method, if any, by $PFOR_START_METHOD (_engine.START_METHOD). Tests run it in a subprocess, to send it
signals and watch its exit code."""

import importlib
import os
import sys

import bodies

if __name__ == "__main__":
    package = os.environ["PFOR_PACKAGE"]
    engine = importlib.import_module(package + "._engine")
    engine.START_METHOD = os.environ.get("PFOR_START_METHOD") or None
    cli = importlib.import_module(package + ".cli")
    cli.run(sys.argv[1:], tasks=bodies)
