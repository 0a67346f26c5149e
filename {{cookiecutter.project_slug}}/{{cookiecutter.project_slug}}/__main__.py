from .cli import run

# The guard matters: worker processes started with "spawn" or "forkserver" import
# this module again, and must not start a run of their own.
if __name__ == "__main__":
    run()
