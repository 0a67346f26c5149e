"""Fixtures of the matrix: renders isolated from the user's cookiecutter config,
and the default project."""

import pytest
import rendering


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """A cookiecutter config of our own: no user defaults, no shared replay folder."""
    path = rendering.write_config(tmp_path)
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(path))
    return path


@pytest.fixture
def render(tmp_path, config_file):
    """render(**answers) -> the generated project (a RenderedProject)."""

    def render(**answers):
        return rendering.render(tmp_path / "out", config_file, **answers)

    return render


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """The default project (package parallel_loop), rendered once."""
    return rendering.render_once(tmp_path_factory)
