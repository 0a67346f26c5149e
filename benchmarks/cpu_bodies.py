"""CPU-bound loop bodies for benchmarks/free_threading.py, in a module of their own:
how a module was compiled (from source, or loaded from a .pyc) is what the
benchmark varies, and a script run as __main__ is always compiled from source."""


def fnv_literals(number: int) -> int:
    """The demo's FNV-1a before: its big numbers written as literals, objects of
    the code shared by every thread that runs it."""
    checksum = 0xCBF29CE484222325
    for byte in f"demo item {number:02d}".encode() * 25_000:
        checksum = ((checksum ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return checksum


def fnv_per_call(number: int) -> int:
    """The demo's FNV-1a now: its big numbers made in each call, so each thread
    has its own."""
    prime, mask = int("100000001b3", 16), int("ffffffffffffffff", 16)
    checksum = int("cbf29ce484222325", 16)
    for byte in f"demo item {number:02d}".encode() * 25_000:
        checksum = ((checksum ^ byte) * prime) & mask
    return checksum


def small_ints(number: int) -> int:
    """Arithmetic on small ints only (immortal objects: no reference counts)."""
    total = number
    for value in range(600_000):
        total = (total * 31 + value) % 65_521
    return total


BODIES = [fnv_literals, fnv_per_call, small_ints]
