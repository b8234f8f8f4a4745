"""The benchmark protocol's plumbing: percentiles, the result file, bench diff, the
correctness check and the scenario syntax. Fast: no server, no timing assertions."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from matchbook.bench import results
from matchbook.bench.check import discrepancies, expected_state
from matchbook.bench.diff import diff, meta_warnings, regressions
from matchbook.bench.hdr import Latency
from matchbook.bench.suite import SECTIONS, load_optional_sections, section
from matchbook.bench.sustained import Scenario, ScenarioError, summarize
from matchbook.cli import app

# -- HdrHistogram plumbing ----------------------------------------------------------------


def test_percentiles_of_a_known_distribution() -> None:
    latency = Latency()
    for ms in range(1, 10_001):  # 1 ms .. 10 s, one each
        latency.record_seconds(ms / 1000)
    figures = latency.figures()
    assert figures["count"] == 10_000
    for key, exact in (("p50_ms", 5000), ("p90_ms", 9000), ("p99_ms", 9900),
                       ("p999_ms", 9990), ("p9999_ms", 9999), ("max_ms", 10_000)):
        assert figures[key] == pytest.approx(exact, rel=1e-3), key  # 3 significant figures
    assert figures["mean_ms"] == pytest.approx(5000.5, rel=1e-3)


def test_histograms_from_several_processes_add_up_exactly() -> None:
    fast, slow = Latency(), Latency()
    for _ in range(990):
        fast.record_us(1_000)
    for _ in range(10):
        slow.record_us(200_000)
    merged = Latency.of([fast.encode(), slow.encode()])
    assert merged.count == 1000
    assert merged.figures()["p99_ms"] == pytest.approx(1.0, rel=1e-3)
    assert merged.figures()["p999_ms"] == pytest.approx(200.0, rel=1e-3)
    both = Latency()
    both.merge(fast)
    both.merge(slow)
    assert both.figures() == merged.figures()


def test_values_out_of_range_are_clamped_and_counted_not_dropped() -> None:
    latency = Latency()
    latency.record_seconds(0.0)
    latency.record_seconds(10_000.0)  # beyond an hour
    figures = latency.figures()
    assert figures["count"] == 2 and figures["clamped"] == 2
    assert figures["max_ms"] >= 3_600_000


def test_an_empty_histogram_reports_zeros() -> None:
    figures = Latency().figures()
    assert figures["count"] == 0 and figures["p99_ms"] == 0.0 and "clamped" not in figures


# -- the result file and bench diff ---------------------------------------------------------


def _result(figures: dict[str, float], runs: dict[str, list[float]] | None = None,
            passed: bool = True, **meta: Any) -> dict[str, Any]:
    result = results.new_result({"seed": 7}, "test")
    result["meta"].update(meta)
    result["sections"]["server"] = results.section("test", {"n": 1}, figures, runs=runs,
                                                   check={"passed": passed, "problems": []})
    return results.finish(result, 1.0)


def test_a_result_file_records_the_commit_the_machine_and_validates() -> None:
    result = _result({"rest_closed_orders_per_sec": 3000.0})
    meta = result["meta"]
    assert meta["cores"] and meta["cpu_model"] and meta["python"].startswith("3.")
    assert len(meta["commit"]) in (40, len("unknown"))
    assert meta["load_average"]["start"] and meta["load_average"]["end"]
    assert results.validate(json.loads(json.dumps(result))) is not None


@pytest.mark.parametrize(("corrupt", "message"), [
    (lambda r: r.update(schema="other/1"), "schema"),
    (lambda r: r["meta"].pop("cpu_model"), "cpu_model"),
    (lambda r: r["sections"]["server"]["figures"].update(x="fast"), "'x' is 'fast'"),
    (lambda r: r["sections"]["server"].pop("figures"), "no figures"),
    (lambda r: r["sections"]["server"]["runs"].update(x=["a"]), "lists of numbers"),
])
def test_a_malformed_result_file_is_refused_naming_what_is_wrong(corrupt: Any,
                                                                 message: str) -> None:
    result = _result({"rest_closed_orders_per_sec": 3000.0})
    corrupt(result)
    with pytest.raises(results.ResultFileError, match=message):
        results.validate(result, "r.json")


def test_figure_directions_follow_their_units() -> None:
    assert results.direction("rest_closed_orders_per_sec") == 1
    assert results.direction("rest_open_2000_p99_ms") == -1
    assert results.direction("rest_closed_server_cpu_ms_per_order") == -1
    assert results.direction("p50_us") == -1
    assert results.direction("bytes_per_resting_order") == -1
    assert results.direction("orders") == 0


def test_diff_flags_regressions_beyond_noise_only() -> None:
    a = _result({"orders_per_sec": 1000.0, "p99_ms": 10.0, "cpu_ms_per_order": 0.5,
                 "p50_ms": 5.0, "orders": 7.0})
    b = _result({"orders_per_sec": 800.0, "p99_ms": 10.5, "cpu_ms_per_order": 0.3,
                 "p50_ms": 5.0, "new_ms": 1.0, "orders": 9.0})
    rows = {r.figure: r for r in diff(a, b, noise=0.10)}
    assert rows["orders_per_sec"].verdict == "REGRESSION"
    assert rows["orders_per_sec"].change == pytest.approx(-0.2)
    assert rows["p99_ms"].verdict == "same"  # +5%, within 10%
    assert rows["cpu_ms_per_order"].verdict == "better"
    assert rows["orders"].verdict == "info"
    assert rows["new_ms"].verdict == "new"
    assert [r.figure for r in regressions(list(rows.values()))] == ["orders_per_sec"]


def test_a_figures_own_spread_of_runs_widens_its_noise() -> None:
    a = _result({"orders_per_sec": 1000.0}, runs={"orders_per_sec": [700.0, 1000.0, 1300.0]})
    b = _result({"orders_per_sec": 800.0})
    (row,) = diff(a, b, noise=0.10)
    assert row.noise == pytest.approx(0.6) and row.verdict == "same"


def test_a_check_that_fails_in_b_is_a_regression() -> None:
    rows = diff(_result({"x_ms": 1.0}), _result({"x_ms": 1.0}, passed=False))
    assert [r.verdict for r in rows if r.figure == "correctness check"] == ["REGRESSION"]


def test_diff_compares_the_sections_both_files_hold() -> None:
    a = _result({"x_ms": 1.0})
    a["sections"]["engine"] = results.section("engine", {}, {"ops_per_sec": 5.0})
    rows = diff(a, _result({"x_ms": 1.0}))
    assert [(r.section, r.figure) for r in rows] == [("server", "x_ms")]
    assert any("sections only in A (engine)" in w for w in meta_warnings(a, _result({})))


def test_diff_warns_when_the_files_are_not_comparable() -> None:
    warnings = meta_warnings(_result({}, cores=2), _result({}, cores=8, quick=True))
    assert any("cores differs" in w for w in warnings)
    assert any("--quick" in w for w in warnings)
    other = _result({})
    other["sections"]["server"]["workload"] = {"n": 2}
    assert "section server: the workloads differ" in meta_warnings(_result({}), other)


def test_bench_diff_command_prints_the_table_and_fails_strictly(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_result({"rest_closed_orders_per_sec": 3000.0,
                                     "rest_open_2000_p99_ms": 20.0})))
    b.write_text(json.dumps(_result({"rest_closed_orders_per_sec": 3050.0,
                                     "rest_open_2000_p99_ms": 40.0})))
    runner = CliRunner()
    shown = runner.invoke(app, ["bench", "diff", str(a), str(b)])
    assert shown.exit_code == 0, shown.output
    assert "REGRESSION" in shown.output and "1 regression(s) beyond noise" in shown.output
    strict = runner.invoke(app, ["bench", "diff", str(a), str(b), "--strict"])
    assert strict.exit_code == 1
    as_json = runner.invoke(app, ["bench", "diff", str(a), str(b), "--json"])
    verdicts = {r["figure"]: r["verdict"] for r in json.loads(as_json.output)["rows"]}
    assert verdicts == {"rest_closed_orders_per_sec": "same",
                        "rest_open_2000_p99_ms": "REGRESSION"}


def test_bench_diff_names_a_bad_file_in_one_line(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(_result({"x_ms": 1.0})))
    bad.write_text("{not json")
    result = CliRunner().invoke(app, ["bench", "diff", str(good), str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: line 1: not JSON" in result.output
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(app, ["bench", "diff", str(good), str(tmp_path / "no.json")])
    assert missing.exit_code == 2 and "no.json" in missing.output


def test_the_committed_baseline_is_a_valid_result_file() -> None:
    baseline = Path(__file__).resolve().parents[2] / "bench" / "results" / "baseline.json"
    if not baseline.exists():
        pytest.skip("no committed baseline in this checkout")
    data = results.load(baseline)
    assert {"engine", "journal", "pipeline", "server", "latency"} <= set(data["sections"])
    assert all(body["check"] is None or body["check"]["passed"]
               for body in data["sections"].values())


# -- the section registry --------------------------------------------------------------------


def test_the_suite_has_every_section_and_takes_new_ones() -> None:
    load_optional_sections()
    assert {"engine", "journal", "pipeline", "server", "latency"} <= set(SECTIONS)

    @section("test-extra", "a section registered from outside")
    def extra(options: Any, note: Any) -> dict[str, Any]:
        return results.section("extra", {}, {"x_per_sec": 1.0})

    try:
        assert SECTIONS["test-extra"].run is extra
    finally:
        del SECTIONS["test-extra"]


def test_an_optional_module_registers_its_section_when_it_exists(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook the simulator uses: a module listed in OPTIONAL_SECTION_MODULES that
    defines a @section joins bench all; an absent one is skipped and reported."""
    from matchbook.bench import suite

    (tmp_path / "extra_bench_sections.py").write_text(
        "from matchbook.bench.results import section as result_section\n"
        "from matchbook.bench.suite import section\n"
        "@section('extra', 'a section from outside')\n"
        "def run(options, note):\n"
        "    return result_section('extra', {'seed': options.seed}, {'x_per_sec': 1.0})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(suite, "OPTIONAL_SECTION_MODULES",
                        ("extra_bench_sections", "matchbook.no_such_package.bench"))
    try:
        status = suite.load_optional_sections()
        assert status == {"extra_bench_sections": "loaded",
                          "matchbook.no_such_package.bench": "absent"}
        result = suite.run_all(suite.Options(quick=True), ["extra"])
        assert result["sections"]["extra"]["figures"] == {"x_per_sec": 1.0}
        assert result["meta"]["optional_sections"]["extra_bench_sections"] == "loaded"
    finally:
        SECTIONS.pop("extra", None)


def test_bench_all_refuses_an_unknown_section() -> None:
    result = CliRunner().invoke(app, ["bench", "all", "--section", "warp"])
    assert result.exit_code == 2 and "unknown warp" in result.output


# -- the correctness check ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def traded_journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real journal: two funded traders, three buys and two sells at one price (two
    trades, one bid of 10 lots left), and the state the server would show."""
    from matchbook.config import default_markets
    from matchbook.core.commands import BUY, LIMIT, SELL, Deposit, PlaceOrder
    from matchbook.journal.durable import DurabilityConfig, DurableEngine

    data = tmp_path_factory.mktemp("journal")
    markets = default_markets()
    durable = DurableEngine.open(data, markets, config=DurabilityConfig(mode="os"))
    commands = [Deposit("USD", 10**9, user_id=1), Deposit("BTC", 10**6, user_id=2),
                *(PlaceOrder(1, "BTC-USD", BUY, LIMIT, qty_lots=10, price_ticks=5_000_000)
                  for _ in range(3)),
                *(PlaceOrder(2, "BTC-USD", SELL, LIMIT, qty_lots=10, price_ticks=5_000_000)
                  for _ in range(2))]
    applied = durable.submit([(c, 1_000 + i) for i, c in enumerate(commands)])
    assert [type(events[0]).__name__ for *_, events in applied[2:]] == ["OrderAccepted"] * 5
    engine = durable.engine
    sym = markets.symbols["BTC-USD"]
    observed = {"balances": {str(uid): {code: [a.format(v) for v in engine.balance(uid, code)]
                                        for code, a in markets.assets.items()}
                             for uid in (1, 2)},
                "bids": [[sym.format_price(5_000_000), sym.format_qty(10)]], "asks": []}
    durable.close()
    deposited = {"USD": markets.assets["USD"].format(10**9),
                 "BTC": markets.assets["BTC"].format(10**6)}
    return data / "journal", {"observed": observed, "deposited": deposited,
                              "filled": sym.format_qty(20)}


def _discrepancies(journal: Path, facts: dict[str, Any], observed: dict[str, Any] | None = None,
                   accepted: int = 5, filled: str | None = None) -> list[str]:
    from matchbook.config import default_markets

    expected = expected_state(journal, default_markets(), [1, 2], "BTC-USD")
    return discrepancies(observed or facts["observed"], expected, accepted=accepted,
                         filled=filled or facts["filled"], deposited=facts["deposited"])


def test_the_check_passes_on_the_servers_true_state(traded_journal: Any) -> None:
    journal, facts = traded_journal
    assert _discrepancies(journal, facts) == []


def test_the_check_fails_on_a_corrupted_balance(traded_journal: Any) -> None:
    journal, facts = traded_journal
    observed = copy.deepcopy(facts["observed"])
    available, held = observed["balances"]["1"]["USD"]
    observed["balances"]["1"]["USD"] = [str(Decimal(available) + Decimal("0.01")), held]
    problems = _discrepancies(journal, facts, observed)
    assert any(p.startswith("user 1 USD: the server says") for p in problems)
    assert any(p.startswith("USD: the traders hold") for p in problems)  # conservation


def test_the_check_fails_on_a_corrupted_book(traded_journal: Any) -> None:
    journal, facts = traded_journal
    observed = copy.deepcopy(facts["observed"])
    observed["bids"][0][1] = str(Decimal(observed["bids"][0][1]) * 2)
    assert any(p.startswith("book bids") for p in _discrepancies(journal, facts, observed))


def test_the_check_fails_when_acknowledged_orders_are_missing_from_the_journal(
        traded_journal: Any) -> None:
    journal, facts = traded_journal
    problems = _discrepancies(journal, facts, accepted=6, filled="0.0030")
    assert any("6 orders accepted, the journal holds 5" in p for p in problems)
    assert any("reported 0.0030 filled" in p for p in problems)


def test_the_check_allows_for_orders_whose_answers_were_never_read(
        traded_journal: Any) -> None:
    journal, facts = traded_journal
    # a saturated open loop gave up on 2 requests: the journal may hold up to 2 more
    assert _discrepancies(journal, facts, accepted=4, filled="0.0010") != []
    from matchbook.config import default_markets

    expected = expected_state(journal, default_markets(), [1, 2], "BTC-USD")
    assert discrepancies(facts["observed"], expected, accepted=4, filled="0.0010",
                         deposited=facts["deposited"], unanswered=2) == []
    assert discrepancies(facts["observed"], expected, accepted=2, filled="0.0010",
                         deposited=facts["deposited"], unanswered=2) != []


# -- scenarios ---------------------------------------------------------------------------------


def test_scenarios_parse_and_bad_ones_name_the_problem() -> None:
    assert Scenario.parse("rest:closed") == Scenario("rest", "closed")
    assert Scenario.parse("WS:open:2500").rate == 2500.0
    assert Scenario.parse("rest:open:2000").name == "rest:open:2000"
    for bad, message in (("tcp:closed", "TRANSPORT"), ("rest:open", "needs a rate"),
                         ("rest:open:-5", "needs a rate"), ("rest:open:x", "needs a rate"),
                         ("rest:closed:5", "takes no rate")):
        with pytest.raises(ScenarioError, match=message):
            Scenario.parse(bad)


def test_bench_api_refuses_a_bad_scenario_in_one_line() -> None:
    result = CliRunner().invoke(app, ["bench", "api", "--sustained", "--scenario", "rest:fast"])
    assert result.exit_code == 2
    assert "error: scenario 'rest:fast'" in result.output and "Traceback" not in result.output


def test_summary_takes_the_median_of_runs_and_every_check() -> None:
    runs = [{"orders_per_sec": v, "server_cpu_ms_per_order": c,
             "latency": {"p50_ms": 1.0, "p99_ms": p}, "check": {"passed": ok}}
            for v, c, p, ok in ((100.0, 0.5, 9.0, True), (300.0, 0.3, 11.0, True),
                                (200.0, 0.4, 10.0, False))]
    summary = summarize(runs)
    assert summary["orders_per_sec"] == 200.0 and summary["p99_ms"] == 10.0
    assert summary["server_cpu_ms_per_order_runs"] == [0.5, 0.3, 0.4]
    assert summary["check_passed"] is False


@pytest.mark.slow  # matplotlib takes seconds to load on a busy machine
def test_the_latency_plot_is_a_png_of_every_step(tmp_path: Path) -> None:
    from matchbook.bench.plot import plot_result

    steps = [{"rate": rate, "valid": rate < 4000, "saturated": rate >= 4000,
              "latency": {k: (i + 1) * rate / 1000 for i, k in enumerate((
                  "p50_ms", "p90_ms", "p99_ms", "p999_ms", "p9999_ms", "max_ms"))}}
             for rate in (500.0, 1000.0, 2000.0, 4000.0)]
    result = _result({"x_ms": 1.0})
    result["sections"]["latency"] = results.section(
        "latency", {}, {}, detail=[{"transport": "rest", "connections": 50,
                                    "median_limit_ms": 25.0, "steps": steps}])
    out = plot_result(result, tmp_path / "latency.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    with pytest.raises(ValueError, match="no latency section"):
        plot_result(_result({"x_ms": 1.0}), tmp_path / "none.png")
