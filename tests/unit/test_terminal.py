"""Tables printed to a file or CI log are not squeezed into 80 columns."""
from __future__ import annotations

import io

from zygarde import terminal


def test_piped_output_is_wide_and_columns_still_rules(monkeypatch):
    monkeypatch.setattr("sys.stdout", io.StringIO())
    monkeypatch.delenv("COLUMNS", raising=False)
    assert terminal.make_console().width == terminal.PIPED_WIDTH
    monkeypatch.setenv("COLUMNS", "100")
    assert terminal.make_console().width == 100
