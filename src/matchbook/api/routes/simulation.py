"""``/api/simulation``: a performance run on a sandbox engine, for a performance dashboard.

``POST /api/simulation {"num_orders": N, "seed": S}`` runs ``matchbook.sim.sandbox`` in
a worker process (its own engine: the live books and balances are never touched, and the
event loop keeps serving the live market while it runs) and answers with the run's
figures. Each run is a process forked from a forkserver that has the sandbox imported (a
few milliseconds to start); when the server stops, a run still going is ended with it,
so no simulation keeps a core busy after the exchange is gone. Up to ``SYNC_LIMIT``
orders the answer waits for the result (200); larger runs, or ``"background": true``,
answer ``202`` with a run id at once, and ``GET /api/simulation/{run_id}`` gives the
status and, when done, the result. ``GET /api/simulation`` lists the kept runs (the last
``KEPT_RUNS``), newest first.

It costs CPU, so it is rate-limited per client address and one run executes at a time (a
second one is refused with 429 while the first runs). Bad input (``num_orders`` missing,
not an integer, below 1 or above 1,000,000; an unknown field) is a 422 with the field
named, and nothing starts.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from matchbook.api.auth import RateLimiter
from matchbook.api.errors import ApiCode, ApiError
from matchbook.sim.sandbox import MAX_ORDERS, run_in_worker

router = APIRouter(prefix="/api", tags=["simulation"])
SYNC_LIMIT = 100_000
KEPT_RUNS = 50


class SimulationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_orders: StrictInt = Field(ge=1, le=MAX_ORDERS, description="Orders to run (at most "
                                  f"{MAX_ORDERS:,}; above {SYNC_LIMIT:,} the run answers 202).")
    seed: StrictInt | None = Field(default=None, ge=0, le=2**63 - 1,
                                   description="Seed of the order flow (default: a new one).")
    background: StrictBool = Field(default=False, description="Answer 202 at once.")


class LatencyBucket(BaseModel):
    le_us: float | None = Field(description="Upper edge in microseconds (null: above the "
                                            "last edge).")
    count: int


class ThroughputPoint(BaseModel):
    t_ms: float = Field(description="Time into the run, milliseconds.")
    orders_per_sec: int


class OrderMix(BaseModel):
    limit: int
    market: int
    cancel: int


class SimulationMetrics(BaseModel):
    orders_submitted: int
    trades_executed: int
    orders_rejected: int
    avg_latency_us: float
    min_latency_us: float
    max_latency_us: float
    p50_latency_us: float
    p90_latency_us: float
    p99_latency_us: float
    p999_latency_us: float
    throughput_per_sec: int
    simulation_duration_ms: float
    current_spread: str | None = Field(description="Best ask - best bid at the end, a "
                                                   "decimal string.")
    best_bid: str | None
    best_ask: str | None
    total_volume_traded: str = Field(description="Base quantity traded, a decimal string.")
    latency_histogram: list[LatencyBucket]
    throughput_series: list[ThroughputPoint]
    order_mix: OrderMix
    seed: int
    symbol: str
    state_hash: str = Field(description="The sandbox engine's state hash at the end (the "
                                        "same seed and count give the same hash).")


class SimulationResponse(BaseModel):
    success: bool
    message: str
    run_id: int
    metrics: SimulationMetrics


class SimulationRun(BaseModel):
    run_id: int
    status: Literal["running", "done", "failed", "stopped"]
    num_orders: int
    seed: int
    started_at_ns: int
    elapsed_ms: float
    message: str
    metrics: SimulationMetrics | None = None


@dataclass
class _Run:
    run_id: int
    num_orders: int
    seed: int
    started_at_ns: int
    started: float
    status: str = "running"
    finished: float | None = None
    message: str = "running"
    metrics: dict[str, Any] | None = None

    def view(self) -> SimulationRun:
        end = self.finished if self.finished is not None else time.monotonic()
        return SimulationRun(run_id=self.run_id, status=self.status,  # type: ignore[arg-type]
                             num_orders=self.num_orders, seed=self.seed,
                             started_at_ns=self.started_at_ns,
                             elapsed_ms=round((end - self.started) * 1000, 3),
                             message=self.message,
                             metrics=SimulationMetrics(**self.metrics) if self.metrics else None)


@dataclass
class _Service:
    """One per app: the kept runs, the limits, and the worker process of the run going."""

    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(2.0, 20))
    runs: OrderedDict[int, _Run] = field(default_factory=OrderedDict)
    ids: Any = field(default_factory=lambda: itertools.count(1))
    current: _Run | None = None
    process: Any = None  # the running worker (a multiprocessing Process), if any
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stopping: bool = False

    def start(self, run: _Run) -> Any:
        """Start ``run`` in a worker process; returns the end of the pipe its result
        arrives on."""
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["matchbook.sim.sandbox"])
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=run_in_worker, daemon=True,
                                  name=f"matchbook-simulation-{run.run_id}",
                                  args=(sender, run.num_orders, run.seed))
        process.start()
        self.process = process
        sender.close()  # the worker holds the only sending end: its exit is our EOF
        return receiver

    def stop(self) -> None:
        """End the run going, if any (the server is stopping)."""
        self.stopping = True
        process, self.process = self.process, None
        if process is not None and process.is_alive():
            process.terminate()
            process.join(2)
            if process.is_alive():
                process.kill()
                process.join(2)


def _service(request: Request) -> _Service:
    return service_of(request.app)


def service_of(app: Any) -> _Service:
    """The app's simulation service (made on first use)."""
    service = getattr(app.state, "simulation", None)
    if service is None:
        service = app.state.simulation = _Service()
    return service


def _receive(receiver: Any) -> tuple[str, Any]:
    """Wait (on a thread) for the worker's answer; EOF means it died without one."""
    try:
        return tuple(receiver.recv())
    except EOFError:
        return ("died", None)
    finally:
        receiver.close()


async def _execute(service: _Service, run: _Run) -> None:
    try:
        # the first run also starts the forkserver (it imports the sandbox): off the loop
        receiver = await asyncio.to_thread(service.start, run)
        if service.stopping:  # the server began to stop while the worker started
            service.stop()
        status, result = await asyncio.to_thread(_receive, receiver)
        if status == "done":
            run.metrics = result
            run.status = "done"
            run.message = (f"Simulated {result['orders_submitted']:,} orders: "
                           f"{result['trades_executed']:,} trades at "
                           f"{result['throughput_per_sec']:,} orders/s.")
        elif service.stopping:
            run.status = "stopped"
            run.message = "The simulation was stopped: the server shut down."
        else:
            run.status = "failed"
            run.message = ("The simulation failed: "
                           f"{result if status == 'failed' else 'its worker process died'}.")
    except Exception as exc:  # the worker could not start: say so, keep serving
        run.status = "failed"
        run.message = f"The simulation failed: {type(exc).__name__}."
    finally:
        process, service.process = service.process, None
        if process is not None:  # it has answered and is exiting
            await asyncio.to_thread(process.join, 5)
        run.finished = time.monotonic()
        service.current = None


async def stop(app: Any) -> None:
    """The server is stopping: end a run still going and wait for its task."""
    service = getattr(app.state, "simulation", None)
    if service is None:
        return
    service.stop()
    await asyncio.gather(*service.tasks, return_exceptions=True)


@router.post("/simulation", response_model=SimulationResponse,
             responses={202: {"model": SimulationRun}, 422: {}, 429: {}})
async def simulate(body: SimulationRequest, request: Request) -> Any:
    """Run ``num_orders`` orders through a sandbox engine and report its speed."""
    service = _service(request)
    client = request.client.host if request.client else "unknown"
    service.limiter.check(("simulation", client))
    if service.current is not None:
        raise ApiError(ApiCode.RATE_LIMITED,
                       f"Simulation {service.current.run_id} is still running; one runs at "
                       "a time.", headers={"Retry-After": "2"})
    seed = body.seed if body.seed is not None else time.time_ns() % 2**31
    run = _Run(next(service.ids), body.num_orders, seed, time.time_ns(), time.monotonic())
    service.runs[run.run_id] = run
    while len(service.runs) > KEPT_RUNS:
        service.runs.popitem(last=False)
    service.current = run
    task = asyncio.ensure_future(_execute(service, run))
    service.tasks.add(task)  # held until done (the loop keeps only weak references)
    task.add_done_callback(service.tasks.discard)
    if body.background or body.num_orders > SYNC_LIMIT:
        return JSONResponse(run.view().model_dump(mode="json"), status_code=202,
                            headers={"Location": f"/api/simulation/{run.run_id}"})
    await task
    if run.status != "done" or run.metrics is None:
        raise ApiError(ApiCode.INTERNAL, run.message, status=500)
    return SimulationResponse(success=True, message=run.message, run_id=run.run_id,
                              metrics=SimulationMetrics(**run.metrics))


@router.get("/simulation", response_model=list[SimulationRun])
async def list_runs(request: Request) -> list[SimulationRun]:
    """The kept runs, newest first."""
    return [run.view() for run in reversed(_service(request).runs.values())]


@router.get("/simulation/{run_id}", response_model=SimulationRun)
async def get_run(run_id: Annotated[int, Path(ge=1)], request: Request) -> SimulationRun:
    """One run: its status and, when done, its figures."""
    run = _service(request).runs.get(run_id)
    if run is None:
        raise ApiError(ApiCode.NOT_FOUND, f"No simulation run {run_id}.")
    return run.view()
