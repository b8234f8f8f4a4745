"""Settings with a fixed set of values are checked before the server starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from matchbook.cli import app
from matchbook.runtime.sequencer import JOURNAL_WRITES
from matchbook.settings import Settings


@pytest.mark.parametrize(("name", "value"), [("journal_mode", "sometimes"),
                                             ("journal_writes", "disk"),
                                             ("projector", "elsewhere")])
def test_a_value_outside_its_choices_is_named(name: str, value: str) -> None:
    settings = Settings.load(None, **{name: value})
    with pytest.raises(ValueError, match=f"{name} must be one of .*, got '{value}'"):
        settings.check()


def test_the_defaults_and_every_place_to_write_pass() -> None:
    Settings().check()
    for writes in JOURNAL_WRITES:
        Settings.load(None, journal_writes=writes).check()


def test_serve_refuses_a_bad_value_before_it_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "data"),
                                      "--journal-writes", "disk"])
    assert result.exit_code == 2
    assert "journal_writes must be one of auto, loop, thread, got 'disk'" in result.output
    assert not (tmp_path / "data").exists()  # nothing was started
