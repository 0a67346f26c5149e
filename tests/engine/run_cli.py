"""Runs a rendered project's command line with the loop body of bodies.py:
python run_cli.py ARGS..., with the package named by $PFOR_PACKAGE and the start
method, if any, by $PFOR_START_METHOD (executors.START_METHOD). Tests run it in a subprocess, to send it
signals and watch its exit code. With $PFOR_LIKE_WINDOWS set, what Windows lacks is
taken away first: SIGALRM, SIGHUP, pthread_sigmask, fcntl (forked workers inherit
that, where the start method is fork)."""

import importlib
import os
import sys

import bodies

if __name__ == "__main__":
    if os.environ.get("PFOR_LIKE_WINDOWS"):
        import signal

        for name in ("SIGALRM", "SIGHUP", "pthread_sigmask", "pthread_kill"):
            delattr(signal, name)
        sys.modules["fcntl"] = None  # import fcntl: ImportError
    package = os.environ["PFOR_PACKAGE"]
    engine = importlib.import_module(package + "._engine.executors")
    engine.START_METHOD = os.environ.get("PFOR_START_METHOD") or None
    cli = importlib.import_module(package + ".cli")
    cli.run(sys.argv[1:], tasks=bodies)
