"""The TOML string filter keeps every character intact."""

import tomllib

import pytest

from local_extensions import toml_string

SAMPLES = [
    "".join(map(chr, range(0x00, 0x80))),  # all of ASCII, controls included
    "\u0080\u009f\u00a0\u2028\u2029\ufeff\ufffd",
    "日本語 Ünïcödé 🎉🐍 \U0001f9ea \U0010ffff",
    "\"\"\"'''\\\\\\",
    "",
]


@pytest.mark.parametrize("value", SAMPLES)
def test_toml_string_round_trips(value):
    assert tomllib.loads(f"x = {toml_string(value)}")["x"] == value


def test_every_plane_round_trips():
    value = "".join(
        chr(code)
        for code in range(0, 0x110000, 97)
        if not 0xD800 <= code <= 0xDFFF  # surrogates are not text
    )
    assert tomllib.loads(f"x = {toml_string(value)}")["x"] == value
