"""Runs the command line with the loop body of fake_tasks.py: tests call it in a
subprocess, to send it signals and watch its exit code."""

import sys

import fake_tasks

from {{ cookiecutter.project_slug }}.cli import (
    run,
)

if __name__ == "__main__":
    run(sys.argv[1:], tasks=fake_tasks)
