"""Rooms a reader can hold in their head: the generated package's modules, classes
and functions stay under the sizes below (lines from first to last, decorators
included), so the next feature that bloats a room is caught where it is written."""

import ast

MODULE_LINES = 300
CLASS_LINES = 150
FUNCTION_LINES = 50


def sizes(package):
    """(what, lines) for each module of the package, and each class and function
    in them, as 'module.py', 'module.py: Class' or 'module.py: function'."""
    found = []
    for path in sorted(package.glob("*.py")):
        text = path.read_text()
        found.append(("module", path.name, len(text.splitlines())))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                found.append(
                    (kind, f"{path.name}: {node.name}", node.end_lineno - start + 1)
                )
    return found


def test_no_room_of_the_default_package_is_over_its_size(project):
    limits = {"module": MODULE_LINES, "class": CLASS_LINES, "function": FUNCTION_LINES}
    found = sizes(project / "parallel_loop")
    assert len([kind for kind, _, _ in found if kind == "module"]) > 10
    too_big = [
        f"{name} ({kind}): {lines} lines, over {limits[kind]}"
        for kind, name, lines in found
        if lines > limits[kind]
    ]
    assert too_big == [], "split these rooms:\n" + "\n".join(too_big)
