"""Hooks for the whole test run. The fixtures live beside the tests that use them:
template/conftest.py, engine/conftest.py, matrix/conftest.py; the helpers they
share in named modules (rendering.py, processes.py), imported by name."""

import os
import signal

# The Ctrl-C tests send SIGINT to the processes they start. A shell that runs the
# tests in the background (`python -m pytest &` in a script) starts them with
# SIGINT ignored, and every process started from here would inherit that.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_report_header(config):
    from matrix import pythons  # every Python here: the matrix's

    return pythons.report()


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: twice the CPUs. Most tests wait on the processes they start
    (a project's own tests, an install, a pool at work): one worker per CPU left
    the CPUs idle more than half the time."""
    return 2 * (os.cpu_count() or 1)
