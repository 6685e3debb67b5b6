"""What a bench hands to ``bench/targets.py``: ``--figures PATH`` writes its headline figures,
as JSON, next to what it prints. A bench run by hand prints them as before."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--figures", metavar="PATH", help="also write the headline figures to PATH, as JSON"
    )


def write(path: str | None, figures: dict[str, Any]) -> None:
    """Write ``figures`` (with the load average now) to ``path``; nothing when ``path`` is None."""
    if path is None:
        return
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    Path(path).write_text(json.dumps({**figures, "load_at_end": load}, ensure_ascii=False))
