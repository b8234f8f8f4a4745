"""``matchbook bench pipeline``: every command reaches SQL, in every journal mode."""

import pytest

from matchbook.bench.pipeline import run

pytestmark = pytest.mark.slow  # a server, subprocesses or a long run


@pytest.mark.parametrize("mode", ["none", "os"])
def test_the_projector_follows_every_command(mode: str) -> None:
    result = run(commands=1500, mode=mode, batch=128)
    # the funding and the mix, plus the risk limits journaled when the engine opened:
    # in mode "none" there is no journal to catch up from, so they must be offered
    assert result["projected_to_seq"] == result["commands"] + 1
    assert result["projector_dropped_batches"] == 0 and result["projector_rows"] > 0
