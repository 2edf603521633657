"""The rich Console the command line prints with: the terminal's width, or 160 columns when the
output is a file or a CI log (rich would squeeze tables into 80)."""
from __future__ import annotations

import os
import sys

from rich.console import Console

PIPED_WIDTH = 160


def make_console() -> Console:
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(width=PIPED_WIDTH if piped else None)
