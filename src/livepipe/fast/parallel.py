"""Work shared between this process and forked helpers.

``shared_map(task, count, processes)`` runs ``task(0) … task(count - 1)``: this process and
``processes - 1`` forked helpers each take the next index in turn until none are left. The
helpers inherit everything the task needs (no pickling on the way out) and send back each
result pickled; what this process runs itself is never pickled at all, and no process sits
idle waiting for the others, as the parent of a `multiprocessing.Pool` does. On two CPUs that
is one helper, not two workers and a parent competing for the cores.

A thread receives what the helpers send as it arrives (a helper never waits for this process
to finish a task of its own), and the results come out in index order.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ..timeutil import usable_cpus

if TYPE_CHECKING:  # multiprocessing is imported when helpers are started (2 ms of a start)
    from multiprocessing.connection import Connection

R = TypeVar("R")
MAX_PROCESSES = 8  # the cap the stages have always had (not measured beyond two CPUs here)

# A task's result as it travels: (index, result, None) or (-1, None, the error).
_Message = tuple[int, Any, BaseException | None]


def processes(workers: int | None) -> int:
    """``workers`` when given, else one process per usable CPU (at most ``MAX_PROCESSES``)."""
    return workers if workers is not None else min(usable_cpus(), MAX_PROCESSES)


def shared_map(task: Callable[[int, bool], R], count: int, processes: int) -> Iterator[R]:
    """``task(i, remote)`` for every ``i`` in ``range(count)``, in order; ``remote`` tells a
    task it runs in a helper (its result will be pickled: it may send a lighter form)."""
    helpers = min(processes, count) - 1
    if helpers >= 1:
        import multiprocessing
    if helpers < 1 or "fork" not in multiprocessing.get_all_start_methods():
        for i in range(count):
            yield task(i, False)
        return
    ctx = multiprocessing.get_context("fork")
    lock = ctx.Lock()
    taken = ctx.RawValue("l", 0)

    def claim() -> int | None:
        with lock:
            i = int(taken.value)
            if i >= count:
                return None
            taken.value = i + 1
            return i

    pipes: list[Connection] = []
    procs = []
    for _ in range(helpers):
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_helper, args=(task, claim, send), daemon=True)
        proc.start()
        send.close()  # the helper's end: EOF here when it exits
        pipes.append(receive)
        procs.append(proc)
    arrived: queue.SimpleQueue[_Message | None] = queue.SimpleQueue()
    reader = threading.Thread(target=_receive, args=(pipes, arrived), daemon=True)
    reader.start()
    done: dict[int, Any] = {}
    following = 0
    hung_up = False  # every helper has exited: what has not arrived never will

    def take(block: bool) -> None:
        nonlocal hung_up
        while not hung_up and (block or not arrived.empty()):
            message = arrived.get()
            if message is None:
                hung_up = True
                break
            i, result, error = message
            if error is not None:
                raise error
            done[i] = result
            block = False

    try:
        while (mine := claim()) is not None:
            done[mine] = task(mine, False)
            take(block=False)
            while following in done:
                yield done.pop(following)
                following += 1
        while following < count:
            if following not in done:
                if hung_up:
                    raise RuntimeError("a helper process exited before finishing its work")
                take(block=True)
                continue
            yield done.pop(following)
            following += 1
    finally:
        for proc in procs:
            if proc.is_alive() and following < count:
                proc.kill()  # stopped early (an error, or the caller gave up)
            proc.join()
        reader.join()
        for pipe in pipes:
            pipe.close()


def _helper(
    task: Callable[[int, bool], Any], claim: Callable[[], int | None], send: Connection
) -> None:
    try:
        while (i := claim()) is not None:
            send.send((i, task(i, True), None))
    except BaseException as exc:
        send.send((-1, None, _portable(exc)))
    finally:
        send.close()


def _portable(exc: BaseException) -> BaseException:
    """The helper's exception (with its traceback as a note) if it survives pickling, else
    one that carries its text."""
    import pickle

    exc.add_note("in a helper process:\n" + "".join(traceback.format_tb(exc.__traceback__)))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        text = "".join(traceback.format_exception(exc))
        return RuntimeError(f"a helper process failed:\n{text}")
    return exc


def _receive(pipes: list[Connection], arrived: queue.SimpleQueue[_Message | None]) -> None:
    """Each message into ``arrived`` until every helper has hung up (done, or died without a
    word: killed, out of memory), then None."""
    from multiprocessing.connection import Connection, wait

    open_pipes = list(pipes)
    while open_pipes:
        for pipe in wait(open_pipes):
            assert isinstance(pipe, Connection)
            try:
                arrived.put(pipe.recv())
            except (EOFError, OSError):
                open_pipes.remove(pipe)
            except Exception as exc:  # a result that does not unpickle here
                arrived.put((-1, None, exc))
    arrived.put(None)
