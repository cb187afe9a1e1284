"""The asyncio half of the corio-sync differential test.

A small op-script language drives a few tasks over one set of asyncio
primitives (Lock, Semaphore, BoundedSemaphore, Condition, Event, three kinds of
Queue, Barrier); this program runs each script on real asyncio and prints what
happened, one trace line per completed op. The Rust interpreter runs the same
scripts on corio and prints the same format; the traces are compared line by
line, so any difference is a place where corio schedules or behaves unlike
asyncio. The language and the trace format, shared with the Rust side, in
short (op texts are echoed; T is the virtual time in milliseconds):

    script 17                              trace 17
    prims S=2 B=1 Q=2 P=0 F=1 R=2          0 T0 acquire L -> ok
    task 0: acquire L; sleep 3; ...   ->   0 T1 cancel T0 -> ok
    task 1: cancel T0; get_nowait Q        0 T1 get_nowait Q -> empty
    end                                    ...
                                           endtrace

Run it as

    python3 sync/tests/differential/asyncio_interp.py < scripts.txt > traces.txt

Time is virtual, so that traces are reproducible and thousands of scripts
run in seconds. Each script gets a fresh `VirtualTimeLoop`: a plain
`asyncio.SelectorEventLoop` whose selector never waits. When `_run_once` has
nothing ready it asks the selector to wait until the earliest timer; the
selector instead moves the clock forward by exactly that much and reports no
I/O. Everything else (the ready queue, timers, task steps, the primitives'
wake-ups) is asyncio's own code, which is the point: we compare against how
asyncio really schedules. The loop changes two details of timers so that the
comparison is well defined:

* deadlines are rounded to whole nanoseconds and the clock is kept as an
  integer count of nanoseconds, so float sums such as 0.001 + 0.002 and 0.003
  name the same instant, and a timer is due exactly when the clock reaches it;
* timers with equal deadlines fire in the order they were scheduled (corio
  guarantees this; asyncio's heap compares deadlines only and leaves ties to
  chance).
"""

import asyncio
import contextlib
import heapq
import itertools
import selectors
import sys
from dataclasses import dataclass

NS_PER_S = 1_000_000_000


class VirtualClockSelector(selectors.SelectSelector):
    """A selector whose select() never waits: it advances the virtual clock
    by the timeout instead, and reports no I/O events."""

    def __init__(self):
        super().__init__()
        self.now_ns = 0

    def select(self, timeout=None):
        if timeout is None:
            # Nothing ready and no timer: the loop would block forever.
            # Cannot happen here, since main always has a timer pending.
            raise RuntimeError("virtual clock: the event loop would block forever")
        self.now_ns += round(timeout * NS_PER_S)
        return []


class SequencedTimerHandle(asyncio.TimerHandle):
    """A TimerHandle ordered by (deadline, scheduling order).

    heapq (used by call_at, _run_once and the compaction of cancelled timers)
    only ever compares with `<`, so `__lt__` alone decides the firing order.
    """

    __slots__ = ("_seq",)

    def __init__(self, when, seq, callback, args, loop, context):
        super().__init__(when, callback, args, loop, context)
        self._seq = seq

    def __lt__(self, other):
        return (self._when, self._seq) < (other._when, other._seq)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """asyncio's selector event loop on a virtual clock that starts at 0 and
    only moves when the loop would otherwise block."""

    def __init__(self):
        self._virtual_clock = VirtualClockSelector()
        super().__init__(self._virtual_clock)
        self._timer_seq = itertools.count()

    def time(self):
        return self._virtual_clock.now_ns / NS_PER_S

    def call_at(self, when, callback, *args, context=None):
        # BaseEventLoop.call_at (which call_later calls), except for the
        # handle's class and the deadline put on the nanosecond grid.
        self._check_closed()
        when = round(when * NS_PER_S) / NS_PER_S
        timer = SequencedTimerHandle(
            when, next(self._timer_seq), callback, args, self, context
        )
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer


@dataclass
class Script:
    seed: str
    params: dict  # "S" -> 2, "Q" -> maxsize of Q, ...
    task_ops: list  # one list of op texts per task


def read_scripts(lines):
    """Yield the scripts of the input, in order."""
    for line in lines:
        words = line.split()
        if not words:
            continue
        match words[0]:
            case "script":
                script = Script(seed=words[1], params={}, task_ops=[])
            case "prims":
                for word in words[1:]:
                    name, value = word.split("=")
                    script.params[name] = int(value)
            case "task":
                header, _, body = line.partition(":")
                index = int(header.split()[1])
                if index != len(script.task_ops):
                    raise ValueError(f"tasks out of order at {line!r}")
                ops = (" ".join(op.split()) for op in body.split(";"))
                script.task_ops.append([op for op in ops if op])
            case "end":
                yield script
            case _:
                raise ValueError(f"unexpected input line {line!r}")


def make_primitives(params):
    return {
        "L": asyncio.Lock(),
        "S": asyncio.Semaphore(params["S"]),
        "B": asyncio.BoundedSemaphore(params["B"]),
        "C": asyncio.Condition(),
        "E": asyncio.Event(),
        "Q": asyncio.Queue(maxsize=params["Q"]),
        "P": asyncio.PriorityQueue(maxsize=params["P"]),
        "F": asyncio.LifoQueue(maxsize=params["F"]),
        "R": asyncio.Barrier(params["R"]),
    }


class Trace:
    """The trace lines of one script, each stamped with the virtual time in
    whole milliseconds. Recording stops at main's `end` line."""

    def __init__(self, loop):
        self.loop = loop
        self.lines = []
        self.recording = True

    def __call__(self, text):
        if self.recording:
            self.lines.append(f"{round(self.loop.time() * 1000)} {text}")


class ScriptTask:
    """One task of a script: performs its ops in order, tracing each."""

    def __init__(self, index, ops, prims, tasks, trace):
        self.name = f"T{index}"
        self.ops = ops
        self.prims = prims
        self.tasks = tasks  # all the script's asyncio tasks, for `cancel TJ`
        self.trace = trace
        self.current = None  # the op being performed
        self.holds_c = False  # acquired C and has not released it since

    async def run(self):
        try:
            for op in self.ops:
                self.current = op
                try:
                    out = await self.perform(op)
                except Exception as exc:  # CancelledError is not an Exception
                    out = f"unexpected {type(exc).__name__}: {exc}"
                self.trace(f"{self.name} {op} -> {out}")
            self.trace(f"{self.name} done")
        except asyncio.CancelledError:
            self.trace(f"{self.name} cancelled in {self.current}")
            if self.holds_c:
                with contextlib.suppress(RuntimeError):
                    self.prims["C"].release()

    async def perform(self, op):
        """Perform one op and return what the trace prints after `->`."""
        p = self.prims
        match op.split():
            case ["acquire", ("L" | "S" | "B" | "C") as x]:
                await p[x].acquire()
                if x == "C":
                    self.holds_c = True
            case ["release", ("L" | "S" | "B" | "C") as x]:
                if x == "C":
                    self.holds_c = False
                try:
                    p[x].release()
                except (RuntimeError, ValueError) as exc:
                    return f"error {exc}"
            case ["wait", ("C" | "E") as x]:
                await p[x].wait()
            case ["notify", "C", n]:
                try:
                    p["C"].notify(int(n))
                except RuntimeError as exc:
                    return f"error {exc}"
            case ["notify_all", "C"]:
                try:
                    p["C"].notify_all()
                except RuntimeError as exc:
                    return f"error {exc}"
            case ["set", "E"]:
                p["E"].set()
            case ["clear", "E"]:
                p["E"].clear()
            case ["is_set", "E"]:
                return "true" if p["E"].is_set() else "false"
            case ["put", ("Q" | "P" | "F") as x, value]:
                await p[x].put(int(value))
            case ["put_nowait", ("Q" | "P" | "F") as x, value]:
                try:
                    p[x].put_nowait(int(value))
                except asyncio.QueueFull:
                    return "full"
            case ["get", ("Q" | "P" | "F") as x]:
                return str(await p[x].get())
            case ["get_nowait", ("Q" | "P" | "F") as x]:
                try:
                    return str(p[x].get_nowait())
                except asyncio.QueueEmpty:
                    return "empty"
            case ["task_done", ("Q" | "P" | "F") as x]:
                try:
                    p[x].task_done()
                except ValueError as exc:
                    return f"error {exc}"
            case ["join", ("Q" | "P" | "F") as x]:
                await p[x].join()
            case ["bwait", "R"]:
                try:
                    return str(await p["R"].wait())
                except asyncio.BrokenBarrierError:
                    return "broken"
            case ["abort", "R"]:
                await p["R"].abort()
            case ["sleep", ms] if ms.isdigit():
                await asyncio.sleep(int(ms) / 1000)
            case ["cancel", task] if task[:1] == "T" and task[1:].isdigit():
                self.tasks[int(task[1:])].cancel()
            case _:
                raise ValueError("unknown op")
        return "ok"


def run_script(script):
    """Run one script on a fresh virtual-time loop; return its trace lines."""
    loop = VirtualTimeLoop()
    trace = Trace(loop)
    prims = make_primitives(script.params)
    tasks = []
    runners = [
        ScriptTask(index, ops, prims, tasks, trace)
        for index, ops in enumerate(script.task_ops)
    ]

    async def main():
        tasks.extend(loop.create_task(runner.run()) for runner in runners)
        await asyncio.sleep(1.0)
        # A task cancelled before its first step is done without having run
        # a line (asyncio throws CancelledError in before the first one).
        for runner, task in zip(runners, tasks):
            if not task.done():
                trace(f"main: {runner.name} stuck in {runner.current}")
        trace("end")
        trace.recording = False

    try:
        loop.run_until_complete(main())
        finish_unrecorded(loop, tasks, prims["C"])
    finally:
        loop.close()
    return trace.lines


def finish_unrecorded(loop, tasks, cond):
    """Cancel the tasks still pending after `end` and run them to completion.

    Nothing is recorded any more; this only spares asyncio's complaints on
    stderr about tasks destroyed while pending (and about their coroutines'
    cleanup code running, at garbage collection, outside the loop).
    """
    while pending := [task for task in tasks if not task.done()]:
        for task in pending:
            task.cancel()
        # Condition.wait swallows cancellation until it has re-acquired its
        # lock, which a task that ended holding C would never release.
        if cond.locked():
            cond.release()
        loop.run_until_complete(asyncio.wait(pending, timeout=1.0))


def main():
    out = sys.stdout
    for script in read_scripts(sys.stdin):
        lines = run_script(script)
        out.write("\n".join([f"trace {script.seed}", *lines, "endtrace"]) + "\n")


if __name__ == "__main__":
    main()
