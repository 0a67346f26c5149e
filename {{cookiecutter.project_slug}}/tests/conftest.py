import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))  # fake_tasks must be importable in worker processes


@pytest.fixture(params=["process", "thread"])
def pool(request):
    return request.param


@pytest.fixture
def make_files(tmp_path):
    """make_files("a", "fail", ...) -> paths of files with those contents."""

    def make(*contents):
        paths = []
        for number, content in enumerate(contents):
            path = tmp_path / f"item{number:04d}.txt"
            path.write_text(content)
            paths.append(path)
        return paths

    return make
