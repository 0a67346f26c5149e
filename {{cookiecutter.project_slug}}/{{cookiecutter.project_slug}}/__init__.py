"""A parallel loop: the loop body in tasks.py, the two patterns in parallel.py."""
