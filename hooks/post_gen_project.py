"""Removes what the chosen options do not need. Safe to run twice."""

import json
import shutil
from pathlib import Path

ANSWERS = json.loads(
    r"""{{ {
        "license": cookiecutter.license,
        "ci": cookiecutter.ci,
        "distributed": cookiecutter.distributed,
    } | tojson }}"""
)

if ANSWERS["license"] == "none":
    Path("LICENSE").unlink(missing_ok=True)
if ANSWERS["ci"] == "none":
    shutil.rmtree(".github", ignore_errors=True)
if ANSWERS["distributed"] == "none":
    Path("tests", "test_dask.py").unlink(missing_ok=True)
