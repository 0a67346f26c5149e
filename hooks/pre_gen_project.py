"""Rejects a bad answer before anything is written (cookiecutter then removes the
half-made project folder), suggests one made from what was typed, and says how to
generate again without typing every answer anew.

Standard library only. Reads the answers, and what local_extensions.py learned from
the cookiecutter process (its config, where it saved the answers), as JSON data.
"""

import difflib
import json
import keyword
import re
import shlex
import sys
import unicodedata

ANSWERS = json.loads(
    r"""{{ {
        "project_name": cookiecutter.project_name,
        "project_slug": cookiecutter.project_slug,
        "author_email": cookiecutter.author_email,
        "max_workers": cookiecutter.max_workers,
        "layout": cookiecutter.layout,
        "distributed": cookiecutter.distributed,
    } | tojson }}"""
)
RUN = json.loads(
    r"""{{ {
        "settings": cookiecutter_settings(),
        "template": cookiecutter._template | default(none),
        "output_dir": cookiecutter._output_dir | default(none),
    } | tojson }}"""
)

DEFAULT_NAME = "Parallel Loop"
DEFAULT_SLUG = "parallel_loop"
DEFAULT_WORKERS = "os.cpu_count() // 2"
MAX_WORKERS_LIMIT = 1024
# Names the generated project imports or has as a folder: a package named like
# one of them would shadow it.
TAKEN = {"tests", "tqdm", "pytest", "setuptools", "pip", "hatchling"}
# Windows cannot create a folder with one of these names.
WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {
    f"{device}{number}" for device in ("com", "lpt") for number in range(1, 10)
}
MAX_SLUG_LENGTH = 64  # cookiecutter.json cuts the derived default to this too
SLUG_SUFFIX = "_loop"  # json -> json_loop: no longer the standard library's json
# Control characters and the line and paragraph separators: the name is one line.
NOT_IN_A_TITLE = {"Cc", "Zl", "Zp"}


def slug_problem(slug):
    """Why slug cannot be the package name, or None."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", slug):
        return (
            "a package name must start with a letter or _ and use only a-z, 0-9 "
            "and _ (it is derived from project_name; answer it yourself if needed)"
        )
    if keyword.iskeyword(slug):
        return "it is a Python keyword"
    if slug in sys.stdlib_module_names or slug == "test":  # CPython's own tests
        return "it is a standard-library module"
    if slug in TAKEN:
        return "the generated project needs that name"
    if slug in WINDOWS_RESERVED:
        return "Windows reserves that name"
    if slug.startswith("__") and slug.endswith("__"):
        return "Python reserves __dunder__ names"
    if len(slug) > MAX_SLUG_LENGTH:
        return f"it is longer than {MAX_SLUG_LENGTH} characters"
    return None


def join_words(words, limit):
    """words joined by _, as many whole words as fit in limit characters."""
    slug = words[0][:limit]
    for word in words[1:]:
        if len(slug) + 1 + len(word) > limit:
            break
        slug += "_" + word
    return slug


def suggest_slug(typed):
    """A package name made from what was typed that slug_problem accepts:
    my-tool -> my_tool, Café -> cafe, 3d_render -> render_3d, json -> json_loop;
    the default when nothing usable is left."""
    ascii_text = unicodedata.normalize("NFKD", typed).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    # A package name cannot start with a digit: begin at the first word that can.
    first = next((i for i, word in enumerate(words) if word[0].isalpha()), None)
    if first is None:
        return DEFAULT_SLUG
    words = words[first:] + words[:first]
    for candidate in (
        join_words(words, MAX_SLUG_LENGTH),
        join_words(words, MAX_SLUG_LENGTH - len(SLUG_SUFFIX)) + SLUG_SUFFIX,
    ):
        if candidate != typed and slug_problem(candidate) is None:
            return candidate
    return DEFAULT_SLUG


def is_line_break_or_control(char):
    return unicodedata.category(char) in NOT_IN_A_TITLE


def name_problem(name):
    """Why name cannot be the project's title, or None."""
    if not name.strip():
        return "it is empty"
    if any(map(is_line_break_or_control, name)):
        return (
            "it is the README's title: one line, without line breaks, tabs "
            "or other control characters"
        )
    return None


def suggest_name(typed):
    """typed on one line: each line break or control character becomes a space."""
    text = "".join(" " if is_line_break_or_control(c) else c for c in typed)
    return " ".join(text.split()) or DEFAULT_NAME


def answer_problems(answers):
    """(prompt, value, reason, suggestion) for each answer that cannot be used."""
    name = answers["project_name"]
    reason = name_problem(name)
    if reason:
        yield "project_name", name, reason, suggest_name(name)

    slug = answers["project_slug"]
    reason = slug_problem(slug)
    if reason:
        yield "project_slug", slug, reason, suggest_slug(slug)

    email = answers["author_email"]
    if email and not re.fullmatch(r"[^@\s<>\",;]+@[^@\s<>\",;]+", email):
        yield "author_email", email, "it is not an email address", "you@example.com"

    workers = answers["max_workers"].strip()
    if workers != DEFAULT_WORKERS:
        if not workers.isascii() or not workers.isdigit():
            reason = f"it must be {DEFAULT_WORKERS!r} or a whole number"
            yield "max_workers", workers, reason, "4"
        elif not 1 <= int(workers) <= MAX_WORKERS_LIMIT:
            reason = f"it must be from 1 to {MAX_WORKERS_LIMIT}"
            yield "max_workers", workers, reason, "4"

    # Every other answer means the same in one file (a script has the pool, the
    # worker count, the pattern, a LICENSE and a workflow); a cluster does not.
    if answers["layout"] == "script" and answers["distributed"] == "dask":
        reason = (
            "layout 'script' is one file that runs on this machine's cores; "
            "--pool dask needs layout='package'"
        )
        yield "distributed", "dask", reason, "none"


def is_a_choice(value, choices):
    """As cookiecutter 2.7 judges a config default (generate.py,
    apply_overwrites_to_context): a list is a multiple choice, a subset."""
    if isinstance(value, list):
        return all(item in choices for item in value)
    return value in choices


def config_problems(settings):
    """(key, value, reason, suggestion) for each value the cookiecutter config's
    default_context gives a choice prompt that is not one of its choices.

    Cookiecutter 2.7 only warns about the first one, leaves that prompt's default
    as it was, and drops every default_context key after it too.
    """
    config_file = settings["config_file"]
    pairs = settings["default_context"]  # [key, value], in the file's order
    prompts = settings["prompts"]
    first = True
    for position, (key, value) in enumerate(pairs):
        choices = prompts.get(key)
        if not isinstance(choices, list) or is_a_choice(value, choices):
            continue
        reason = (
            f"in the default_context of {config_file} it is not one of the choices "
            f"{', '.join(map(repr, choices))}"
        )
        if first:
            reason += "; cookiecutter ignored it"
            dropped = [k for k, _ in pairs[position + 1 :] if k in prompts]
            if dropped:
                reason += f" and the keys after it ({', '.join(dropped)})"
            first = False
        closest = difflib.get_close_matches(str(value), choices, n=1) or choices
        yield key, value, reason, closest[0]


def holds_these_answers(path):
    """Whether cookiecutter saved this run's answers in path (not an older run's)."""
    try:
        with open(path, encoding="utf-8") as file:
            saved = json.load(file)["cookiecutter"]
        return all(saved.get(key) == value for key, value in ANSWERS.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def advice(fields, config_file):
    """What to do next: how to generate again without typing every answer anew."""
    lines = (
        [f"Correct {config_file}, then run cookiecutter again."] if config_file else []
    )
    path = RUN["settings"]["replay_file"]
    if not path or not holds_these_answers(path):
        return lines
    command = ["cookiecutter", *RUN["settings"]["config_options"]]
    command += ["--replay-file", path]
    if RUN["output_dir"]:
        command += ["-o", RUN["output_dir"]]
    if RUN["template"]:
        command.append(RUN["template"])
    if fields:
        todo = f"correct {', '.join(fields)} in that file, then run"
    else:
        todo = "run"
    lines.append(
        f"Your answers are saved in {path}. To generate again without typing "
        f"them, {todo}:\n    {shlex.join(command)}"
    )
    if config_file:
        lines.append("(Saved answers are used as they are: no config changes them.)")
    return lines


def main():
    answer_errors = list(answer_problems(ANSWERS))
    config_errors = list(config_problems(RUN["settings"]))
    for field, value, reason, suggestion in answer_errors:
        print(
            f"error: {field} {value!r} is not accepted: {reason}. "
            f"For example: {field}={suggestion!r}",
            file=sys.stderr,
        )
    for key, value, reason, suggestion in config_errors:
        print(
            f"error: {key} {value!r} is not accepted: {reason}. "
            f"For example: {key}: {suggestion}",
            file=sys.stderr,
        )
    if not answer_errors and not config_errors:
        return 0
    fields = [field for field, *_ in answer_errors]
    config_file = RUN["settings"]["config_file"] if config_errors else None
    for line in advice(fields, config_file):
        print(line, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
