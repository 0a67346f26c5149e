"""How the two patterns of parallel.py run. You need not read this to use them."""
