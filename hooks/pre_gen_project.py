"""Rejects a bad answer before anything is written (cookiecutter then removes the
half-made project folder). Standard library only; reads the answers as JSON data."""

import json
import keyword
import re
import sys

ANSWERS = json.loads(
    r"""{{ {
        "project_name": cookiecutter.project_name,
        "project_slug": cookiecutter.project_slug,
        "author_email": cookiecutter.author_email,
        "max_workers": cookiecutter.max_workers,
    } | tojson }}"""
)

DEFAULT_WORKERS = "os.cpu_count() // 2"
MAX_WORKERS_LIMIT = 1024
# Names the generated project imports or has as a folder: a package named like
# one of them would shadow it.
TAKEN = {"tests", "tqdm", "pytest", "setuptools", "pip", "hatchling"}
# Windows cannot create a folder with one of these names.
WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {
    f"{device}{number}" for device in ("com", "lpt") for number in range(1, 10)
}
MAX_SLUG_LENGTH = 64


def problems(answers):
    name = answers["project_name"]
    if not name.strip():
        yield "project_name", name, "it is empty", "'Parallel Loop'"

    slug = answers["project_slug"]
    example = "'parallel_loop'"
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", slug):
        yield (
            "project_slug",
            slug,
            "a package name must start with a letter or _ and use only a-z, 0-9 "
            "and _ (it is derived from project_name; answer it yourself if needed)",
            example,
        )
    elif keyword.iskeyword(slug):
        yield "project_slug", slug, "it is a Python keyword", example
    elif slug in sys.stdlib_module_names or slug == "test":  # CPython's own tests
        yield "project_slug", slug, "it is a standard-library module", example
    elif slug in TAKEN:
        yield "project_slug", slug, "the generated project needs that name", example
    elif slug in WINDOWS_RESERVED:
        yield "project_slug", slug, "Windows reserves that name", example
    elif slug.startswith("__") and slug.endswith("__"):
        yield "project_slug", slug, "Python reserves __dunder__ names", example
    elif len(slug) > MAX_SLUG_LENGTH:
        reason = f"it is longer than {MAX_SLUG_LENGTH} characters"
        yield "project_slug", slug, reason, example

    email = answers["author_email"]
    if email and not re.fullmatch(r"[^@\s<>\",;]+@[^@\s<>\",;]+", email):
        yield "author_email", email, "it is not an email address", "'you@example.com'"

    workers = answers["max_workers"].strip()
    if workers != DEFAULT_WORKERS:
        if not workers.isascii() or not workers.isdigit():
            reason = f"it must be {DEFAULT_WORKERS!r} or a whole number"
            yield "max_workers", workers, reason, "'4'"
        elif not 1 <= int(workers) <= MAX_WORKERS_LIMIT:
            reason = f"it must be from 1 to {MAX_WORKERS_LIMIT}"
            yield "max_workers", workers, reason, "'4'"


def main():
    found = list(problems(ANSWERS))
    for field, value, reason, example in found:
        print(
            f"error: {field} {value!r} is not accepted: {reason}. "
            f"For example: {field}={example}",
            file=sys.stderr,
        )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
