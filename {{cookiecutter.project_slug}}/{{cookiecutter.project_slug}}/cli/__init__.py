"""The command line: python -m {{ cookiecutter.project_slug }} [INPUTS...] [options]."""

from .command import main, run

__all__ = ["main", "run"]
