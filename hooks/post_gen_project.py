"""Removes what the chosen options do not need. Safe to run twice.

Optional files have conditional names instead ({% raw %}{% if ... %}name{% endraw %}); a
directory cannot (cookiecutter would fail), so .github is removed here, and so is
what a script does not have: the package, its tests and its tooling. The script's
README and workflow are rendered under names of their own, beside the package's,
and take the package's names here."""

import json
import os
import shutil

ANSWERS = json.loads(
    r"""{{ {
        "project_slug": cookiecutter.project_slug,
        "layout": cookiecutter.layout,
        "ci": cookiecutter.ci,
    } | tojson }}"""
)

# What the package has and a script has not (a test of the template's lists the
# files each layout gets: a file the package gains later fails it until named here).
PACKAGE_ONLY = [
    ANSWERS["project_slug"],  # the package (the hook refused any other slug)
    "tests",
    "pyproject.toml",
    ".pre-commit-config.yaml",
    ".github/workflows/template-updates.yml",  # cruft updates: a package's path
]
# The script's own files -> the names they take.
SCRIPT_FILES = {
    "README.script.md": "README.md",
    ".github/workflows/tests.script.yml": ".github/workflows/tests.yml",
}


def remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


if ANSWERS["ci"] == "none":
    remove(".github")

if ANSWERS["layout"] == "script":
    for path in PACKAGE_ONLY:
        remove(path)
    for path, name in SCRIPT_FILES.items():
        if os.path.exists(path):
            os.replace(path, name)
