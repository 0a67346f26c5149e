"""Opening a pool, and closing it fast when a run stops early."""

from __future__ import annotations

{% if cookiecutter.distributed == "dask" -%}
import logging
{% endif -%}
import signal
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
{%- if cookiecutter.distributed == "dask" %}

from .failures import PoolError

POOLS = ("process", "thread", "dask")
CONNECT_TIMEOUT = "10s"  # how long to try to reach a Dask scheduler
# Ctrl-C reaches Dask's worker processes too; like ours, they leave it to the main
# process, which stops the cluster.
IGNORE_CTRL_C = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
{%- else %}

POOLS = ("process", "thread")
{%- endif %}


def set_worker_signals() -> None:
    """Runs first in each worker process."""
    # Ctrl-C reaches every process of the terminal. The main process handles it;
    # without this, each worker would also print its own KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the main process's SIGTERM handler; it should just
    # end when the main process terminates it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def make_executor(pool: str, max_workers: int) -> Executor:
    if pool == "process":
        return ProcessPoolExecutor(max_workers, initializer=set_worker_signals)
    if pool == "thread":
        return ThreadPoolExecutor(max_workers)
    raise ValueError(f"pool must be one of {POOLS}, not {pool!r}")


@contextmanager
def open_pool(pool: str, max_workers: int):
    """Like `with make_executor(...)`, but an error or Ctrl-C does not wait for the
    queued work: it is cancelled, and worker processes are ended at once."""
{%- if cookiecutter.distributed == "dask" %}
    if pool == "dask":
        with open_dask_pool(max_workers) as executor:
            yield executor
        return
{%- endif %}
    executor = make_executor(pool, max_workers)
    try:
        yield executor
    except BaseException:
        # shutdown() forgets the worker processes, so take hold of them first.
        # (Python 3.14 has terminate_workers(); 3.10 to 3.13 only this private dict.)
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=2)
        raise
    executor.shutdown(wait=True)
{%- if cookiecutter.distributed == "dask" %}


@contextmanager
def open_dask_pool(max_workers: int):
    """A Dask cluster's concurrent.futures executor. With a scheduler address in
    Dask's config (--scheduler, or DASK_SCHEDULER_ADDRESS), it uses that cluster;
    otherwise it starts one here with max_workers processes, and stops it after."""
    import dask
    from dask.distributed import Client  # imported only when used: it is slow

    address = dask.config.get("scheduler-address", None)
    try:
        if address:
            client = Client(address, timeout=CONNECT_TIMEOUT)
        else:
            client = Client(
                n_workers=max_workers,
                threads_per_worker=1,
                dashboard_address=":0",  # any free port: runs must not fight for one
                silence_logs=logging.CRITICAL,  # we report failures ourselves
                preload=[IGNORE_CTRL_C],  # runs in each worker process as it starts
            )
    except OSError as exc:
        raise unreachable(address, exc) from None
    with client:
        # pure=False: run every call, even two with the same arguments.
        executor = client.get_executor(pure=False)
        try:
            yield executor
        except BaseException:
            executor.shutdown(wait=False)  # cancels what has not finished
            raise
        executor.shutdown(wait=True)


def dask_cluster_size(address: str) -> int:
    """How many items a running Dask cluster can work on at once."""
    from dask.distributed import Client

    try:
        with Client(address, timeout=CONNECT_TIMEOUT) as client:
            return max(1, sum(client.nthreads().values()))
    except OSError as exc:
        raise unreachable(address, exc) from None


def unreachable(address: str, exc: OSError) -> PoolError:
    return PoolError(
        f"cannot reach the Dask scheduler at {address} ({exc}). Check the "
        "address, and that `dask scheduler` runs there and is reachable."
    )
{%- endif %}
