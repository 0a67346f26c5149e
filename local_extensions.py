"""Jinja filters for this template (cookiecutter puts the template folder on sys.path).

No stock filter writes every answer as a valid TOML string: `tojson` escapes
non-BMP characters (emoji) as surrogate pairs, which TOML rejects.

`cookiecutter_settings()` hands the pre_gen hook what only the cookiecutter process
knows: the hook runs as a separate program and sees neither `--config-file` nor where
the answers were saved for `--replay`.
"""

import json
import logging
import os
from pathlib import Path

from jinja2 import pass_context
from jinja2.ext import Extension

COOKIECUTTER_JSON = Path(__file__).resolve().parent / "cookiecutter.json"

TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n"}
TOML_ESCAPES.update({"\f": "\\f", "\r": "\\r"})


def toml_string(value) -> str:
    """value as a TOML basic string, quotes included; other text stays as it is."""
    out = []
    for char in str(value):
        if char in TOML_ESCAPES:
            out.append(TOML_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


# Where the command was started: cookiecutter first imports this module while it asks
# the questions, before it moves into the template folder to render the hooks; the
# relative paths it was given (--config-file, a replay_dir, the template) start here.
START_DIR = os.getcwd()


def _command_line_options() -> dict | None:
    """The options of the running `cookiecutter` (or `cruft`) command, or None.

    Click keeps the parsed options of the command being run. A library call (the
    tests' `cookiecutter(...)`) has none, and the config file it was given, if any,
    cannot be known.
    """
    import click

    context = click.get_current_context(silent=True)
    return dict(context.params) if context is not None else None


def _user_config(options: dict) -> tuple[str | None, dict]:
    """(the config file cookiecutter read or None, its settings), looked up as
    cookiecutter.config.get_user_config does and read by the same function."""
    from cookiecutter.config import DEFAULT_CONFIG, USER_CONFIG_PATH, get_config
    from cookiecutter.exceptions import CookiecutterException

    if options.get("default_config"):
        path = None
    elif options.get("config_file"):
        path = str(options["config_file"])
    elif "COOKIECUTTER_CONFIG" in os.environ:
        path = os.environ["COOKIECUTTER_CONFIG"]
    elif os.path.exists(USER_CONFIG_PATH):
        path = USER_CONFIG_PATH
    else:
        path = None
    if path is None:
        return None, DEFAULT_CONFIG
    path = os.path.abspath(os.path.join(START_DIR, path))
    try:
        return path, get_config(path)
    except (CookiecutterException, OSError):  # a library call may name no such file
        return None, DEFAULT_CONFIG


def _as_json(value):
    """A YAML value (a date, a set...) as JSON data; what JSON cannot hold, as text."""
    return json.loads(json.dumps(value, default=str))


@pass_context
def cookiecutter_settings(context) -> dict:
    """What the pre_gen hook needs to know about this run, as data:

    - config_file: the cookiecutter config in use, or None (also when a library
      call may have given cookiecutter another one);
    - config_options: the command-line options that chose it, to run again alike;
    - default_context: its default_context as [key, value] pairs in the file's order
      (cookiecutter applies them in that order and stops at the first bad one);
    - prompts: cookiecutter.json's questions and their defaults (a list: choices);
    - replay_file: where cookiecutter saved this run's answers before generating
      (cookiecutter.main calls replay.dump(replay_dir, template name) first), or
      None when the run did not go through cookiecutter.main (cruft, for one). In a
      library call it is a guess: the hook checks the file holds these answers.
    """
    options = _command_line_options()
    config_file, config = _user_config(options or {})
    template = json.loads(COOKIECUTTER_JSON.read_text(encoding="utf-8"))
    prompts = {k: v for k, v in template.items() if not k.startswith("_")}

    replay_file = None
    answers = context.get("cookiecutter", {})
    if "_repo_dir" in answers:  # set by cookiecutter.main just before it saves them
        from cookiecutter.replay import get_file_name

        repo_dir = os.path.join(START_DIR, answers["_repo_dir"])
        name = os.path.basename(os.path.abspath(repo_dir))
        if options and options.get("replay_file"):  # --replay-file renames the save
            name = os.path.basename(os.path.splitext(options["replay_file"])[0])
        replay_dir = os.path.join(START_DIR, config["replay_dir"])
        replay_file = os.path.abspath(get_file_name(replay_dir, name))

    if options is None:  # a library call: its config may not be the one found here
        config_file, config = None, {}
    default_context = config.get("default_context")
    if not isinstance(default_context, dict):
        default_context = {}
    if options and options.get("default_config"):
        config_options = ["--default-config"]
    elif options and options.get("config_file") and config_file:
        config_options = ["--config-file", config_file]
    else:
        config_options = []
    return {
        "config_file": config_file,
        "config_options": config_options,
        "default_context": _as_json(list(default_context.items())),
        "prompts": prompts,
        "replay_file": replay_file,
    }


class NoTracebackForAFailedHook(logging.Filter):
    """Cookiecutter logs a hook that exited with an error with a traceback of its own
    code (hooks.py: logger.exception), under the hook's message that already says
    what was wrong and what to do: keep its one line, leave out the traceback."""

    def filter(self, record):
        from cookiecutter.exceptions import FailedHookException

        if record.exc_info and isinstance(record.exc_info[1], FailedHookException):
            record.exc_info = record.exc_text = None
        return True


DEFAULT_MAX_WORKERS = "os.cpu_count() // 2"  # the max_workers prompt's default


def max_workers_code(answer) -> str:
    """The max_workers answer as Python for MAX_WORKERS: None for the default, else
    the whole number (the pre_gen hook refuses anything else first). A filter, not
    an answer derived in cookiecutter.json: a replay file would keep that one as it
    was, so a corrected max_workers would render the old value."""
    text = str(answer).strip()
    return "None" if text == DEFAULT_MAX_WORKERS else str(int(text))


class EscapeExtension(Extension):
    """This template's filters and hook helper (named in cookiecutter.json)."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["toml_string"] = toml_string
        environment.filters["max_workers_code"] = max_workers_code
        environment.globals["cookiecutter_settings"] = cookiecutter_settings
        hooks_log = logging.getLogger("cookiecutter.hooks")
        if not any(isinstance(f, NoTracebackForAFailedHook) for f in hooks_log.filters):
            hooks_log.addFilter(NoTracebackForAFailedHook())
