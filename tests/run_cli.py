"""Runs a rendered project's command line with the loop body of bodies.py:
python run_cli.py ARGS..., with the package named by $PFOR_PACKAGE and the start
method, if any, by $PFOR_START_METHOD. Tests run it in a subprocess, to send it
signals and watch its exit code."""

import importlib
import multiprocessing
import os
import sys

import bodies

if __name__ == "__main__":
    if os.environ.get("PFOR_START_METHOD"):
        multiprocessing.set_start_method(os.environ["PFOR_START_METHOD"])
    cli = importlib.import_module(os.environ["PFOR_PACKAGE"] + ".cli")
    cli.run(sys.argv[1:], tasks=bodies)
