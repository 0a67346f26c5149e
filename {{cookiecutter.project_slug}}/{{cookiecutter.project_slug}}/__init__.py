"""A parallel loop, in four parts by who reads them:

tasks.py     yours: the loop body, its items, setup/teardown, the settings
parallel.py  the lesson and the library: run_map, run_submit, run_serial
cli/         the command line: python -m {{ cookiecutter.project_slug }}
_engine/     how the patterns run; you need not read it
"""
