"""Your loop body, on the demo items: change these tests when you change tasks.py.

They never run items(), which may be your real workload (a database, the network):
keep demo_items() a few small items like yours.
"""

import json

from {{ cookiecutter.project_slug }} import tasks
from {{ cookiecutter.project_slug }}.cli.output import (
    to_json,
)
from {{ cookiecutter.project_slug }}.parallel import (
    run_map,
    run_submit,
)


def test_the_loop_body_runs_on_a_demo_item():
    item = tasks.demo_items()[0]
    result = tasks.process_item(item)
    assert json.loads(to_json(result)) == result  # written to JSON as it is


def test_the_numbered_loop_body_gives_the_same_result():
    item = tasks.demo_items()[0]
    assert tasks.process_numbered_item(0, item) == tasks.process_item(item)


def test_the_demo_items_run_on_the_configured_pool():
    items = tasks.demo_items()[:6]
    expected = [tasks.process_item(item) for item in items]
    options = {"pool": tasks.POOL, "max_workers": 2, "progress": False}
    assert run_map(tasks.process_item, items, **options) == expected
    assert run_submit(tasks.process_numbered_item, items, **options) == expected


def test_the_settings_are_valid():
    assert tasks.POOL in ("process", "thread")
    assert tasks.PATTERN in ("map", "submit")
    assert tasks.MAX_WORKERS is None or tasks.MAX_WORKERS >= 1
