"""The load generator's loops on a virtual clock: deterministic, no timing assertions.

The event loop below runs in virtual time: ``loop.time()`` is a counter that jumps to
the next scheduled callback whenever nothing is ready, so ``asyncio.sleep(0.05)`` takes
no real time and ends at exactly +0.05. A fake server answers after a given service
time, and the tests check the latencies the loops record to the microsecond.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from matchbook.bench.loadgen import Outcome, Recorder, Send, closed_loop, open_loop


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self, loop: _VirtualLoop) -> None:
        super().__init__()
        self.loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)  # the loop's own wake-up pipe only
        if not ready and timeout is not None and timeout > 0:
            self.loop.now += timeout  # nothing to do until the next timer: jump to it
        return ready


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 1000.0
        super().__init__(_VirtualSelector(self))
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self.now

    def busy(self, seconds: float) -> None:
        """The generator itself computes for ``seconds`` (blocks the loop)."""
        self.now += seconds


def run_virtual(main: Callable[[_VirtualLoop], Coroutine[Any, Any, Any]]) -> Any:
    loop = _VirtualLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()


class _Server:
    """One connection to a server that takes ``service(k)`` seconds for request k."""

    def __init__(self, service: Callable[[int], float]) -> None:
        self.service = service
        self.sent: list[float] = []

    def slot(self, loop: _VirtualLoop) -> Send:
        async def send() -> Outcome:
            k = len(self.sent)
            self.sent.append(loop.time())
            await asyncio.sleep(self.service(k))
            return Outcome("new")

        return send


def _latencies_ms(recorder: Recorder) -> list[float]:
    """Every recorded latency (the histogram keeps 3 significant figures)."""
    hist = recorder.latency.histogram
    out = []
    for item in hist.get_recorded_iterator():
        out += [item.value_iterated_to / 1000] * item.count_at_value_iterated_to
    return out


def test_open_loop_measures_from_the_intended_send_time() -> None:
    """10 requests/s on one connection; requests take 50 ms, but the fourth takes
    1 s. Those due while it is served wait for the connection, and their latency counts
    from when they were due: the coordinated omission a closed loop would make."""
    server = _Server(lambda k: 1.0 if k == 3 else 0.05)

    async def main(loop: _VirtualLoop) -> tuple[Recorder, Any]:
        start = loop.time()
        recorder = Recorder(start, start + 1.0)
        report = await open_loop([server.slot(loop)], recorder, 10.0, start, loop.time,
                                 asyncio.sleep)
        return recorder, report

    recorder, report = run_virtual(main)
    assert report.scheduled == 10 and report.answered == 10 and not report.saturated
    # due at 0.0, 0.1, ...; request 3 (due 0.3) ends at 1.3; 4..9 then run back to back
    # from 1.3, 50 ms each: request k ends at 1.3 + 0.05 * (k - 3)
    expected = [50.0, 50.0, 50.0, 1000.0] + [
        round((1.3 + 0.05 * (k - 3) - 0.1 * k) * 1000, 3) for k in range(4, 10)]
    assert expected[4:] == [950.0, 900.0, 850.0, 800.0, 750.0, 700.0]
    got = sorted(_latencies_ms(recorder))
    assert got == pytest.approx(sorted(expected), rel=2e-3)  # 3 significant figures
    assert server.sent[4] == pytest.approx(server.sent[3] + 1.0)  # it did wait
    assert report.most_waiting >= 5  # requests 4..8 queued behind the slow one
    assert recorder.latency.figures()["max_ms"] == pytest.approx(1000.0, rel=2e-3)


def test_closed_loop_measures_from_sending_and_so_omits_the_wait() -> None:
    """The same server in a closed loop: the requests after the slow one are sent
    late and each reports only its 50 ms, which is why latency is measured open loop."""
    server = _Server(lambda k: 1.0 if k == 3 else 0.05)

    async def main(loop: _VirtualLoop) -> Recorder:
        start = loop.time()
        recorder = Recorder(start, start + 1.625)
        await closed_loop([server.slot(loop)], recorder, loop.time)
        return recorder

    recorder = run_virtual(main)
    got = _latencies_ms(recorder)
    assert sorted(got) == pytest.approx([50.0] * (len(got) - 1) + [1000.0], rel=2e-3)
    # 3 requests to 0.15, the slow one to 1.15, then 10 more sent at 1.15 ... 1.6
    assert len(got) == 14


def test_open_loop_counts_only_the_window_and_records_the_generators_own_lag() -> None:
    """Requests due before the window (warm-up) are not recorded; the generator blocking
    its loop for 30 ms at one point shows in its issue lag, not as the server's."""
    server = _Server(lambda k: 0.01)

    async def main(loop: _VirtualLoop) -> tuple[Recorder, Any]:
        start = loop.time()
        recorder = Recorder(start + 0.5, start + 1.0)

        async def stall() -> None:
            await asyncio.sleep(0.705)
            loop.busy(0.03)  # e.g. a long garbage collection in the generator

        staller = asyncio.create_task(stall())
        report = await open_loop([server.slot(loop)], recorder, 100.0, start, loop.time,
                                 asyncio.sleep)
        await staller
        return recorder, report

    recorder, report = run_virtual(main)
    assert report.scheduled == 100
    assert recorder.latency.count == 50  # due in [0.5, 1.0)
    assert recorder.answers == 100  # every answer counts for the correctness check
    lag = report.issue_lag.figures()
    assert lag["count"] == 50
    assert lag["max_ms"] == pytest.approx(25.0, rel=0.05)  # due at 0.71, issued at 0.735
    assert lag["p50_ms"] == 0.001  # on time (clamped to the histogram's 1 µs floor)


def test_an_open_loop_the_server_cannot_keep_up_with_is_saturated() -> None:
    server = _Server(lambda k: 0.05)  # 20/s at most on one connection

    async def main(loop: _VirtualLoop) -> Any:
        start = loop.time()
        recorder = Recorder(start, start + 1.0)
        report = await open_loop([server.slot(loop)], recorder, 100.0, start, loop.time,
                                 asyncio.sleep, drain_seconds=2.0)
        return report, recorder

    report, recorder = run_virtual(main)
    assert report.scheduled == 100 and report.answered < 100 and report.saturated
    # what was never sent is dropped; what was in flight is answered, so nothing the
    # server may have executed goes unseen
    assert report.never_sent + report.answered == 100 and report.lost == 0
    # the requests given up on are in the histogram with the time they had waited
    assert recorder.latency.count == 100
    assert recorder.latency.figures()["max_ms"] >= 2000.0


def test_open_loop_rejects_a_rate_that_is_not_positive() -> None:
    async def main(loop: _VirtualLoop) -> Any:
        return await open_loop([], Recorder(0, 1), 0.0, 0.0, loop.time, asyncio.sleep)

    with pytest.raises(ValueError, match="rate must be positive"):
        run_virtual(main)
