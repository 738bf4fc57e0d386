"""Runs tasks the way the Sense scheduler does (reference §1.9, §3.4).

A start creates an execution session and a fresh execution result, then walks the QRS
status machine: Triggered (1) -> Started (2) -> FinishedSuccess (7) | FinishedFail (8),
with Retry (10) and a new result per attempt while `maxRetries` allows, and
AbortInitiated (4) -> Aborting (5) -> Aborted (6) for aborts.  Only after the terminal state
is in the repository does the log4net datagram go out, then chained tasks start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from . import log4net, scriptlog
from .enums import STATUS_NAMES
from .faults import Faults
from .state import (
    TASK_DISTRIBUTE,
    TASK_PRELOAD,
    TASK_RELOAD,
    ExecutionDetail,
    ExecutionResult,
    ExecutionSession,
    Meta,
    ScriptLog,
    State,
    Task,
    User,
    iso,
    new_id,
    utcnow,
)
from .triggers import SimClock, Triggers

log = logging.getLogger("sensesim.runner")

Outcome = Literal["success", "fail", "abort"]
OUTCOMES: tuple[Outcome, ...] = ("success", "fail", "abort")

TRIGGERED, STARTED, ABORT_INITIATED, ABORTING, ABORTED = 1, 2, 4, 5, 6
FINISHED_SUCCESS, FINISHED_FAIL, RETRY = 7, 8, 10

DETAIL_ERROR, DETAIL_WARNING, DETAIL_INFO = 0, 1, 2


@dataclass
class RunnerConfig:
    """Timing and datagram options; every delay is multiplied by `time_scale`."""

    default_duration_ms: int = 2000
    trigger_delay_ms: int = 300  # Triggered -> Started
    abort_step_ms: int = 200  # AbortInitiated -> Aborting -> Aborted
    retry_delay_ms: int = 1000  # Retry -> next attempt Triggered
    abort_at_fraction: float = 0.5  # where in its duration an "abort" scenario aborts
    time_scale: float = 1.0
    udp_targets: list[tuple[str, int]] = field(default_factory=list)
    success_marker: log4net.SuccessMarker = "single"
    udp_level: str = "INFO"
    clock_start: datetime | None = None  # the simulated clock's first reading (None: real time)


@dataclass(frozen=True)
class SentDatagram:
    time: str
    target: str
    kind: str
    payload: bytes

    def describe(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "target": self.target,
            "kind": self.kind,
            "payload": self.payload.decode("utf-8", errors="replace"),
        }


class Runner:
    def __init__(
        self,
        state: State,
        config: RunnerConfig | None = None,
        faults: Faults | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.state = state
        self.config = config or RunnerConfig()
        self.faults = faults if faults is not None else state.faults
        self.sim_clock = SimClock(clock, self.config.clock_start)
        self.clock = self.sim_clock.now
        self.triggers = Triggers(state, self.start, self.sim_clock)
        self.overrides: dict[str, Outcome] = {}  # task id -> outcome of its next run
        self.datagrams: list[SentDatagram] = []
        self._runs: dict[str, asyncio.Task[None]] = {}  # session id -> run
        self._started: dict[str, asyncio.Event] = {}
        self._abort: dict[str, asyncio.Event] = {}
        self._randoms: dict[str, random.Random] = {}
        self._sockets: dict[int, socket.socket] = {}
        self._closed = False

    # ---- public API (QRS and the control API call these)

    def running_session(self, task_id: str) -> ExecutionSession | None:
        for session in self.state.execution_sessions.values():
            if session.task.id == task_id:
                return session
        return None

    def start(self, task: Task, user: User) -> ExecutionSession | None:
        """Start a run; None when the scheduler would not (disabled, already running)."""
        if self._closed or not task.enabled:
            return None
        if self.running_session(task.id) is not None:
            return None
        task.run_count += 1
        session_id = new_id()
        result = self._new_result(task, session_id)
        session = ExecutionSession(id=session_id, task=task, result=result, user=user)
        self.state.execution_sessions[session_id] = session
        self._started[session_id] = asyncio.Event()
        self._abort[session_id] = asyncio.Event()
        outcome_override = self.overrides.pop(task.id, None)
        self._transition(result, TRIGGERED, "NeverStarted")
        run = asyncio.get_running_loop().create_task(
            self._run(session, outcome_override), name=f"sensesim-run-{task.name}"
        )
        self._runs[session_id] = run
        run.add_done_callback(lambda done, sid=session_id: self._forget(sid, done))
        return session

    async def wait_started(self, session: ExecutionSession) -> None:
        """Return once the session's first attempt reached Started (start/synchronous)."""
        event = self._started.get(session.id)
        run = self._runs.get(session.id)
        if event is None or run is None:
            return
        waiter = asyncio.ensure_future(event.wait())
        try:
            # A run cancelled before it started (reset, shutdown) must not hang the caller.
            await asyncio.wait({waiter, run}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    def stop(self, task: Task) -> bool:
        """Abort the task's running session (QRS task/{id}/stop); False if nothing runs."""
        session = self.running_session(task.id)
        if session is None:
            return False
        session.abort_at = self.clock()  # shown as abortAt on the execution session
        session.abort_reason = 1  # Manual
        self._abort[session.id].set()
        return True

    def set_outcome(self, task_id: str, outcome: Outcome) -> None:
        self.overrides[task_id] = outcome

    async def reset(self) -> None:
        """Cancel every run, forget overrides and datagrams, restore never-run state."""
        await self._cancel_runs()
        self.overrides.clear()
        self.datagrams.clear()
        self._randoms.clear()
        self.state.reset_runtime()
        self.sim_clock.rewind()
        self.triggers.schedule_all()

    async def close(self) -> None:
        self._closed = True
        await self.triggers.stop()
        await self._cancel_runs()
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    async def idle(self) -> None:
        """Wait until no run (including chained ones) is in flight."""
        while self._runs:
            await asyncio.gather(*list(self._runs.values()), return_exceptions=True)

    # ---- the run

    def _forget(self, session_id: str, done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            # A bug in a run must be loud: a silently vanished run looks like a hung task in QRS.
            log.error("run %s crashed", session_id, exc_info=done.exception())
        self._runs.pop(session_id, None)
        self._started.pop(session_id, None)
        self._abort.pop(session_id, None)

    async def _cancel_runs(self) -> None:
        runs = list(self._runs.values())
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    def _ms(self, ms: float) -> float:
        return max(ms, 0) * self.config.time_scale / 1000.0

    async def _sleep(self, ms: float) -> None:
        await asyncio.sleep(self._ms(ms))

    async def _sleep_or_abort(self, session: ExecutionSession, ms: float) -> bool:
        """Sleep `ms`; True if an abort was requested meanwhile."""
        event = self._abort[session.id]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=self._ms(ms))
        return event.is_set()

    async def _run(self, session: ExecutionSession, override: Outcome | None) -> None:
        task = session.task
        attempt = 0
        try:
            while True:
                result = session.result
                await self._sleep(self.config.trigger_delay_ms)
                result.start_time = self.clock()
                self._transition(result, STARTED, "Triggered")
                self._started[session.id].set()
                outcome = override or self._scenario_outcome(task)
                task.attempt_count += 1
                duration = (
                    task.duration_ms if task.duration_ms is not None else self.config.default_duration_ms
                )
                if outcome == "abort":
                    # The scenario plays an operator pressing Stop part-way through the run.
                    await self._sleep_or_abort(session, duration * self.config.abort_at_fraction)
                    session.abort_reason = 1
                    await self._abort_run(session)
                    return
                if await self._sleep_or_abort(session, duration):
                    await self._abort_run(session)
                    return
                if outcome == "success":
                    await self._finish(session, FINISHED_SUCCESS, "success")
                    return
                if attempt < task.max_retries:
                    self._end_attempt(session, RETRY, "fail")
                    await self._sleep(self.config.retry_delay_ms)
                    attempt += 1
                    session.retries = attempt
                    session.result = self._new_result(task, session.id)
                    self._transition(session.result, TRIGGERED, "Retry")
                    continue
                await self._finish(session, FINISHED_FAIL, "fail")
                return
        finally:
            # A cancelled run (reset, shutdown) must not leave a phantom session behind.
            self.state.execution_sessions.pop(session.id, None)

    async def _abort_run(self, session: ExecutionSession) -> None:
        result = session.result
        self._transition(result, ABORT_INITIATED, STATUS_NAMES[result.status])
        await self._sleep(self.config.abort_step_ms)
        self._transition(result, ABORTING, "AbortInitiated")
        await self._sleep(self.config.abort_step_ms)
        await self._finish(session, ABORTED, "abort")

    async def _finish(self, session: ExecutionSession, status: int, outcome: Outcome) -> None:
        """Terminal state into the repository, then the datagram, then chained tasks."""
        task = session.task
        self._end_attempt(session, status, outcome)
        self.state.execution_sessions.pop(session.id, None)
        if status == FINISHED_SUCCESS and task.task_type == TASK_RELOAD and task.app is not None:
            self.state.app_reloaded(task.app.id, session.result.stop_time)
        kind: log4net.EventKind = {FINISHED_SUCCESS: "success", FINISHED_FAIL: "failed", ABORTED: "aborted"}[
            status
        ]  # type: ignore[assignment]
        lag = self.faults.udp_lag_ms
        if lag:
            await self._sleep(lag)
        self._send(session, kind)
        if task.task_type == TASK_DISTRIBUTE:
            # The distribution logger fires too; both carry the same execution id.
            self._send(session, "distribute")
        self.triggers.task_finished(task, status)

    def _end_attempt(self, session: ExecutionSession, status: int, outcome: Outcome) -> None:
        """Close one attempt: stop time, duration, script log, final detail."""
        result = session.result
        task = session.task
        now = self.clock()
        start = result.start_time or now
        result.stop_time = now
        result.duration = max(int((now - start).total_seconds() * 1000), 0)
        if task.task_type == TASK_RELOAD and task.app is not None:
            self._write_script_log(session, outcome, start, now)
        previous = STATUS_NAMES[result.status]
        self._transition(result, status, previous)

    def _write_script_log(
        self, session: ExecutionSession, outcome: Outcome, start: datetime, stop: datetime
    ) -> None:
        result = session.result
        task = session.task
        assert task.app is not None
        text = scriptlog.render(
            script=str(task.app.engine.get("script", "")),
            outcome=outcome,
            start=start,
            stop=stop,
            user=session.user.domain_user,
            version=self.state.site.version,
        )
        file_reference = new_id()
        host = self.state.site.hostname
        result.file_reference_id = file_reference
        result.script_log_available = True
        result.script_log_size = len(text.encode("utf-8"))
        result.script_log_location = (
            f"\\\\{host}\\QlikShare\\ArchivedLogs\\{host}\\Script\\"
            f"{task.app.id}.{stop.astimezone().strftime('%Y%m%dT%H%M%S')}.log"
        )
        available = stop + timedelta(milliseconds=self.faults.script_log_delay_ms * self.config.time_scale)
        self.state.script_logs[file_reference] = ScriptLog(
            file_reference_id=file_reference,
            execution_result_id=result.id,
            task_id=task.id,
            text=text,
            available_at=available,
        )

    def _new_result(self, task: Task, session_id: str) -> ExecutionResult:
        now = self.clock()
        result = ExecutionResult(
            id=new_id(),
            task_id=task.id,
            execution_id=session_id,
            app_id=task.app.id if task.app else None,
            executing_node_id=self.state.site.node_id,
            executing_node_name=self.state.site.hostname,
            meta=Meta(created=now, modified=now, modified_by="INTERNAL\\sa_scheduler"),
        )
        self.state.add_result(result)
        task.last_result = result
        return result

    def _transition(self, result: ExecutionResult, status: int, previous: str) -> None:
        now = self.clock()
        if status == FINISHED_FAIL:
            level = DETAIL_ERROR
        elif status in (RETRY, ABORT_INITIATED, ABORTING, ABORTED):
            level = DETAIL_WARNING
        else:
            level = DETAIL_INFO
        result.details.append(
            ExecutionDetail(
                id=new_id(),
                details_type=level,
                message=f"Changing task state from {previous} to {STATUS_NAMES[status]}",
                created=now,
            )
        )
        result.status = status
        if result.meta is not None:
            result.meta.modified = now

    # ---- outcomes

    def _scenario_outcome(self, task: Task) -> Outcome:
        scenario = task.scenario
        if isinstance(scenario, str):
            return scenario  # type: ignore[return-value]
        ((kind, arg),) = scenario.items()
        if kind == "failEvery":
            return "fail" if task.run_count % int(arg) == 0 else "success"
        if kind == "sequence":
            items = arg if isinstance(arg, list) else [arg]
            return items[task.attempt_count % len(items)]  # type: ignore[no-any-return]
        # random: one generator per task, seeded from the scenario, so a seed replays exactly
        rng = self._randoms.setdefault(task.id, random.Random(int(arg.get("seed", 0))))
        draw = rng.random()
        fail_rate = float(arg.get("failRate", 0))
        abort_rate = float(arg.get("abortRate", 0))
        if draw < fail_rate:
            return "fail"
        if draw < fail_rate + abort_rate:
            return "abort"
        return "success"

    # ---- datagrams

    def _send(self, session: ExecutionSession, kind: log4net.EventKind) -> None:
        task = session.task
        message = (log4net.MESSAGE_PRELOAD_FAILED if kind == "failed" and task.task_type == TASK_PRELOAD
                   else None)
        event = log4net.SchedulerEvent(
            kind=kind,
            host=self.state.site.hostname,
            task_name=task.name,
            app_name=task.app.name if task.app else "",
            user=session.user.domain_user,
            task_id=task.id,
            app_id=task.app.id if task.app else "",
            when=self.clock(),
            execution_id=session.id,
            level=self.config.udp_level,
            message=message,
        )
        payload = log4net.format_datagram(event, self.config.success_marker)
        for host, port in self.config.udp_targets:
            try:
                family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
                sock = self._sockets.get(family)
                if sock is None:
                    sock = socket.socket(family, socket.SOCK_DGRAM)
                    sock.setblocking(False)
                    self._sockets[family] = sock
                sock.sendto(payload, address)
            except OSError as exc:
                # UDP is fire-and-forget on a real site too; a dead listener loses the event.
                log.warning("datagram to %s:%s failed: %s", host, port, exc)
                continue
            self.datagrams.append(SentDatagram(iso(self.clock()), f"{host}:{port}", kind, payload))
        if not self.config.udp_targets:
            self.datagrams.append(SentDatagram(iso(self.clock()), "", kind, payload))
