"""Loop bodies for the benchmark, at module level so worker processes can import
them under any start method."""

import time


def trivial(x):
    return x


def trivial_indexed(index, x):
    return x


def spin(loops):
    """Pure-Python work: holds the GIL for as long as `loops` says."""
    total = 0
    for i in range(loops):
        total += i * i
    return total


def spin_indexed(index, loops):
    return spin(loops)


def wait(seconds):
    time.sleep(seconds)
    return seconds


def wait_indexed(index, seconds):
    return wait(seconds)


def reverse(data):
    """1 MB in, 1 MB out."""
    return data[::-1]


def reverse_indexed(index, data):
    return reverse(data)


INDEXED = {
    trivial: trivial_indexed,
    spin: spin_indexed,
    wait: wait_indexed,
    reverse: reverse_indexed,
}


def loops_for(seconds):
    """How many spin() loops take about `seconds` on this machine."""
    loops = 100_000
    started = time.perf_counter()
    spin(loops)
    return int(loops * seconds / (time.perf_counter() - started))
