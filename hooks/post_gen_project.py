"""Removes what the chosen options do not need. Safe to run twice.

Optional files have conditional names instead ({% raw %}{% if ... %}name{% endraw %}); a
directory cannot (cookiecutter would fail), so .github is removed here."""

import json
import shutil

ANSWERS = json.loads(r"""{{ {"ci": cookiecutter.ci} | tojson }}""")

if ANSWERS["ci"] == "none":
    shutil.rmtree(".github", ignore_errors=True)
