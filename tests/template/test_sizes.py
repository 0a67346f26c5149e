"""Size as a smell, not a cap: the test prints the largest modules, classes and
functions of the default render's package (see them with `pytest -s`; a failure
shows them too), so a room that keeps growing is seen where it is written. One
loose guard stays: no function over 60 lines, no module over 450. Lines from
first to last, decorators included; modules named by their path in the package,
subfolders included (_engine/pool.py)."""

import ast

FUNCTION_LINES = 60
MODULE_LINES = 450
SHOWN = 8  # the largest of each kind


def rooms(node, module: str, prefix: str = "") -> list[tuple[str, str, int]]:
    """(kind, name, lines) of each class and function under node, wherever it is
    defined, named 'module.py: Class.method' or 'module.py: function.inner'."""
    found = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([child.lineno] + [d.lineno for d in child.decorator_list])
            kind = "class" if isinstance(child, ast.ClassDef) else "function"
            name = prefix + child.name
            found.append((kind, f"{module}: {name}", child.end_lineno - start + 1))
            found += rooms(child, module, f"{name}.")
        else:  # a def inside an if, a try, a with: still a room of this module
            found += rooms(child, module, prefix)
    return found


def sizes(package) -> list[tuple[str, str, int]]:
    """(kind, name, lines) of each module of the package, in every subfolder, and
    of each class and function in them."""
    found = []
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package).as_posix()
        text = path.read_text(encoding="utf-8")
        found.append(("module", module, len(text.splitlines())))
        found += rooms(ast.parse(text), module)
    return found


def report(found) -> str:
    """The SHOWN largest modules, classes and functions, largest first."""
    lines = []
    for kind, kinds in (
        ("module", "modules"),
        ("class", "classes"),
        ("function", "functions"),
    ):
        ranked = sorted(
            (entry for entry in found if entry[0] == kind),
            key=lambda entry: (-entry[2], entry[1]),
        )
        lines.append(f"the largest {kinds} ({len(ranked)} in all), in lines:")
        lines += [f"  {size:5}  {name}" for _, name, size in ranked[:SHOWN]]
    return "\n".join(lines)


def test_the_largest_rooms_are_shown_and_none_is_far_too_big(project):
    found = sizes(project.package)
    shown = report(found)
    print(f"\n{shown}")
    assert len([kind for kind, _, _ in found if kind == "module"]) > 10
    limits = {"module": MODULE_LINES, "function": FUNCTION_LINES}
    too_big = [
        f"{name} ({kind}): {lines} lines, over {limits[kind]}"
        for kind, name, lines in found
        if kind in limits and lines > limits[kind]
    ]
    assert too_big == [], "split these rooms:\n" + "\n".join(too_big) + f"\n\n{shown}"
