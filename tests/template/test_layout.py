"""Three doors: a generated package lays its files out by who reads them, and
each door is one way. Outside _engine/, code imports only what
_engine/__init__.py lists in __all__; _engine/ imports nothing of the package
outside it and names no file of the command line; and no module changes another
module's globals (an optional part registers what it adds through a function)."""

import ast
import json
import re
from pathlib import Path

import pytest
from rendering import TEMPLATE

# The whole first listing a newcomer sees, by who it is for.
ENTRIES = {"__init__.py", "__main__.py", "tasks.py", "parallel.py", "cli", "_engine"}
RENDERS = {
    "default": {},
    "thread, submit, dask": {"pool": "thread", "pattern": "submit", "distributed": "dask"},
}  # fmt: skip


def door(package: Path) -> set[str]:
    """The names _engine/__init__.py lists in __all__."""
    tree = ast.parse((package / "_engine" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "__all__":
            return set(ast.literal_eval(node.value))
    raise AssertionError("_engine/__init__.py has no __all__")


def module_name(package: Path, path: Path) -> list[str]:
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports(package: Path, path: Path, tree: ast.Module):
    """(line, absolute module, imported name or None) for each import of a file."""
    here = module_name(package, path)
    if path.name != "__init__.py":
        here = here[:-1]  # the package the module is in
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                yield node.lineno, module, alias.name


def problems(package: Path) -> list[str]:
    """What breaks the rules of the doors, as 'file:line: what'."""
    name, allowed = package.name, door(package)
    engine = f"{name}._engine"
    cli_files = {p.name for p in (package / "cli").glob("*.py")} - {"__init__.py"}
    found = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package).as_posix()
        in_engine = where.startswith("_engine/")
        tree = ast.parse(path.read_text())
        modules_here = set()
        for line, module, imported in imports(package, path, tree):
            full = f"{module}.{imported}" if imported else module
            ours = module == name or module.startswith(f"{name}.")
            if ours and imported is not None:
                modules_here.add(imported)
            if in_engine:
                if ours and not (full == engine or full.startswith(f"{engine}.")):
                    found.append(f"{where}:{line}: the engine imports {full}")
                continue
            if module.startswith(f"{engine}.") or (
                module == name and imported == "_engine"
            ):
                found.append(f"{where}:{line}: {full} is behind the engine's door")
            elif module == engine and imported not in allowed:
                found.append(f"{where}:{line}: {imported} is not in _engine's __all__")
        for node in ast.walk(tree):
            if in_engine and isinstance(node, ast.Constant):
                text = str(node.value)
                named = [
                    f
                    for f in sorted(cli_files)
                    if re.search(rf"\b{re.escape(f)}", text)
                ]
                if named:
                    found.append(f"{where}:{node.lineno}: names {named[0]} of cli/")
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = (
                    node.targets if isinstance(node, ast.Assign) else [node.target]
                )
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id in modules_here
                    ):
                        found.append(
                            f"{where}:{node.lineno}: changes {target.value.id}."
                            f"{target.attr}, another module's global"
                        )
    return found


@pytest.mark.parametrize("kind", RENDERS)
def test_the_package_has_three_doors_each_one_way(render, kind):
    package = render(**RENDERS[kind]).package
    entries = {path.name for path in package.iterdir() if path.name != "__pycache__"}
    dask = {"dask_pool.py"} if RENDERS[kind].get("distributed") == "dask" else set()
    assert entries == ENTRIES | dask
    assert problems(package) == []


FORBIDDEN = {
    "cli/running.py": "from .._engine.pool import Pool\n",  # behind the door
    "cli/output.py": "from .._engine import Settings\n",  # not in __all__
    "parallel.py": "from ._engine import worker_calls\n",  # a module behind it
    "_engine/pool.py": "from ..cli import output\n",  # the engine knows no cli
    "_engine/errors.py": "from .. import tasks\n",  # nor anything outside it
    "_engine/worker_calls.py": 'SKIP = ("output.py",)\n',  # names a cli file
    "cli/bench.py": "from .. import _engine\n_engine.POOLS = ()\n",  # a global
}


def test_each_forbidden_import_is_caught(render):
    package = render().package
    for where, line in FORBIDDEN.items():
        path = package / where
        text = path.read_text()
        path.write_text(text + line)
        try:
            assert problems(package), f"{where}: {line!r} was not caught"
        finally:
            path.write_text(text)
    assert problems(package) == []


def readme_tree(text: str) -> set[str]:
    """The files that the template README's "What you get" tree names, as paths."""
    block = text.split("## What you get", 1)[1].split("```", 2)[1]
    paths, folders = set(), []
    for line in block.strip().splitlines()[1:]:  # under the project's folder
        match = re.match(r"([│ ]*)[├└]── (\S+)", line)
        if not match:
            continue
        depth = len(match[1]) // 4
        name = match[2]
        folders[depth:] = [name.rstrip("/")] if name.endswith("/") else []
        if not name.endswith("/"):
            paths.add("/".join([*folders[:depth], name]))
    return paths


def test_the_template_readme_tree_is_a_default_render(render):
    project = render()
    assert readme_tree((TEMPLATE / "README.md").read_text()) == project.files()


def test_the_readme_shows_the_prompts_as_they_are(render):
    """Each choice of cookiecutter.json is in the README's transcript word for word,
    and the README says how long the script of layout=script is."""
    readme = (TEMPLATE / "README.md").read_text()
    prompts = json.loads((TEMPLATE / "cookiecutter.json").read_text())["__prompts__"]
    for key, prompt in prompts.items():
        if isinstance(prompt, dict):
            choices = [label for name, label in prompt.items() if name != "__prompt__"]
            for number, label in enumerate(choices, 1):
                assert f"    {number} - {label}\n" in readme, (key, label)
    script = render(layout="script").script
    lines = len(script.read_text().splitlines())
    assert f"`parallel_loop.py` ({lines} lines, read top to bottom)" in readme
