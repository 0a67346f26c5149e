"""Jinja filters for this template (cookiecutter puts the template folder on sys.path).

No stock filter writes every answer as a valid TOML string: `tojson` escapes
non-BMP characters (emoji) as surrogate pairs, which TOML rejects.
"""

from jinja2.ext import Extension

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


class EscapeExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["toml_string"] = toml_string
