"""How the two patterns of parallel.py run. You need not read this to use them.

This folder is the engine. Everything outside it imports only the names below
(__all__), and it imports nothing from cli/: its messages name run_map's
parameters, which cli/ turns into its options. Its actors and channels:

  the calling thread (main process)          each worker: a process or a thread
  ---------------------------------          -------------------------------------
  run_map / run_submit  (parallel.py)
  Pool  (pool.py): cuts batches,  ===(1)===> in_worker  (worker_calls.py): set
    sends them, a bounded number    call         up once per run: setup(), and
    in flight; waits for them       queue        in a process its running file
                                                 and the timeout watch thread
  Outcomes  (outcomes.py): settles  <==(2)=== call_batch: the loop body on each
    each item's outcome: retries,   result       item, failures captured, and a
    timeouts, on_result, and the    queue        BatchDone back
    results in input order
  Workers  (workers.py): notices    <--(3)--- the running file: the item a
    deaths and names the item of    mmap         worker process runs, and since
    a dead worker, ends stuck                    when
    ones, replaces and shuts down
    the executor; signals each      ---(4)--> the worker process's process group:
    worker's process group          killpg       what its loop body started
  WorkerLogs  (executors.py): a     <--(5)--- a QueueHandler on the root logger
    listener thread re-logs here    log queue    (worker_start.py)
  (the main process's own end)      ---(6)--> the parent sentinel: a watch thread
                                    pipe         exits the worker; on Linux SIGIO
                                                 ends its group even without it

Who writes and who reads each channel:
(1) the executor's call queue: Pool.send, through Workers.submit, writes the run's
    Settings and a batch; the executor (its manager thread, for processes) hands
    each call to a free worker.
(2) the executor's result queue: call_batch returns a BatchDone (in_worker a
    SetupFailed instead); the executor resolves the batch's future;
    Pool.wait_for_batches reads it.
(3) <notes>/running/<pid>: open_running_file makes it as a worker process sets up
    for a run, and call_batch writes it before and after each item, in the
    worker's main thread; the main process reads it without the worker's
    help. Workers.crashes names the item of a worker that died under it;
    Workers.end_stuck kills a worker STUCK_GRACE past its item's timeout, leaving
    a note <notes>/<index> that Workers.take_stuck_notes reads. The folder lives
    for one run on processes (executors.run_notes), never in the working directory.
(4) process groups: each worker process leads its own (worker_start.py);
    Workers.stop_now and end_groups signal them, end_worker signals one.
(5) the log queue: each worker process's QueueHandler writes log records; the
    WorkerLogs listener thread hands them to this process's logging.
(6) the parent sentinel: the kernel closes it when the main process ends, however
    it ends; each worker process's watch thread (worker_start.exit_with) reads it.
Within a process, RUNNING (worker_calls.py) holds what each thread runs: written
by call_batch and running_item; read by the log filter and the SIGALRM handler
(each for its own thread), by the timeout watch in a worker process, and on a
thread pool by the main thread (Pool.abandon_late_items,
Workers.threads_running_items).

The actors:
- The calling thread runs the Pool. It sends batches, BATCHES_IN_FLIGHT_PER_WORKER
  per worker, sized by BatchSizes (batches.py) from how long items take; it waits
  for batches at most LONGEST_WAIT at a time, so Ctrl-C is seen (once an executor
  broke, it waits for all of its batches to fail); and it settles each finished
  batch in Outcomes, in this thread: on_result runs here, retries are scheduled
  here, and items that ran past their timeout on a thread or a cluster are
  recorded here (a thread cannot be stopped: its item is abandoned). When a worker
  process dies, the executor breaks and fails every batch in flight: the Pool
  fails the item the dead worker ran (WorkerCrashed), replaces the executor and
  sends the rest again (Pool.recover); items that had finished in a lost batch
  run again.
- A paced run (a rate=, or a service that said 429 or 503): the calling thread
  holds each batch, of one item, in Turns (turns.py) until its Limiter (rate.py)
  gives it a turn and a worker is free, so no item waits in an executor's queue
  where a pause could not reach it; each worker process starts and sets up
  before the first (Workers.warm_up). A worker that hears "too many requests"
  sends the rest of its batch back unrun (call_batch); the Limiter pauses every
  start for the Retry-After, halves its rate and adds it back as calls go well.
- The executor: a ProcessPoolExecutor or a thread pool made by executors.py, or
  an executor of yours (a cluster's, reusable_pool's), which the run leaves
  running: it cannot replace that one, so a worker of it that dies stops the run.
  Its own manager thread moves calls and results for processes.
- Each worker process starts with worker_start.start_process_worker: its own
  process group, Ctrl-C left to the main process, logs sent there, BLAS to one
  thread. For a timed run, its watch thread sends SIGALRM to an item past its
  time (worker_calls.watch); teardown() runs as it exits (resources.py).
- Each worker thread of a thread pool runs in_worker and call_batch likewise,
  with its own setup() resource; teardown() runs in each at the end of the pool.
- The watch threads: the timeout watch and the parent watch in each worker
  process, and the WorkerLogs listener in the main process.

Where the engine works around CPython, and why:
- A worker killed while it sends a result leaves half a message in the result
  pipe, and the executor's manager thread waits for the rest for ever (not filed
  upstream as far as we know; gh-107219 is its cousin, a feeder thread stuck in
  send_bytes): workers.end_workers closes the pipe once no worker is left, and
  Workers.look_for_an_unseen_death takes a death the executor has not noticed
  within DEAD_WORKER_GRACE as one.
- Ctrl-C, SIGTERM and SIGHUP are held while an executor or a worker process is
  made (ctrl_c.py): an exception there leaves a process half started or a
  semaphore leaked, and a KeyboardInterrupt raised in an at-fork handler or a
  __del__ is dropped (both are "exceptions ignored", by the language's design).
- concurrent.futures joins every pool thread at exit (bpo-39812 made them
  non-daemon): after Ctrl-C, cpython.let_threads_go lets a blocked thread of our
  DaemonThreadPool go, so the program can exit.
- The forkserver preloads the engine only where it imports with this process's
  sys.path (gh-117378, fixed in 3.12.8 and 3.13.1): before, it could preload
  another, installed copy of the package (cpython.forkserver_ignores_sys_path).
- Not fork by default (executors.process_context): it copies a process with the
  locks of its threads held, and Python 3.12 warns when a process with threads
  forks (gh-100228); 3.14 makes forkserver Linux's default (gh-84559).
- CPython's max_tasks_per_child counts calls (our batches), refuses fork and is
  missing on 3.10: recycling.py counts items instead.
- A lock wait with no end can miss a Ctrl-C on free-threaded Python (seen on
  3.14t, not yet filed upstream as far as we know): LONGEST_WAIT.
- Every read of a private CPython attribute is in cpython.py, checked on each
  Python by its missing(). (resources.py registers teardown() with
  multiprocessing.util.Finalize, which multiprocessing documents nowhere but
  uses for its own exit handlers.)
"""

from .batches import Prefetched, batches_of
from .cpython import gil_enabled, pool_threads_waited_for
from .ctrl_c import ctrl_c_held
from .errors import ItemError, PoolError, SetupError, add_dead_worker_error
from .executors import POOLS, BlasThreadsPerWorker, open_pool
from .outcomes import RETRY_ON
from .pool import Pool
from .rate import (
    THROTTLE_RETRIES,
    Limiter,
    Throttled,
    describe_rate,
    parse_rate,
    still_throttled,
)
from .recycling import check_limits
from .resources import TEARDOWN_FAILURES, set_up, tear_down, worker_resource
from .worker_calls import (
    Failure,
    ItemTimeout,
    WorkerCrashed,
    call_each,
    current_index,
    describe,
    failure_of,
    running_item,
)
from .worker_count import default_max_workers, usable_cpus

__all__ = [
    "POOLS",
    "RETRY_ON",
    "TEARDOWN_FAILURES",
    "THROTTLE_RETRIES",
    "BlasThreadsPerWorker",
    "Failure",
    "ItemError",
    "ItemTimeout",
    "Limiter",
    "Pool",
    "Prefetched",
    "PoolError",
    "SetupError",
    "Throttled",
    "WorkerCrashed",
    "add_dead_worker_error",
    "batches_of",
    "call_each",
    "check_limits",
    "ctrl_c_held",
    "current_index",
    "default_max_workers",
    "describe",
    "describe_rate",
    "failure_of",
    "gil_enabled",
    "open_pool",
    "parse_rate",
    "pool_threads_waited_for",
    "running_item",
    "set_up",
    "still_throttled",
    "tear_down",
    "usable_cpus",
    "worker_resource",
]
