"""What the jobs share about files: reading a table, fingerprints, the manifest."""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import ray
import torch

from ray_jobs import protocol

MANIFEST = "manifest.json"


class InputError(Exception):
    """Bad input from the caller: the job says so in one line and exits 2."""


def fail(message: str, code: int = 2) -> int:
    """Print a one-line error on stderr; returns the exit code to use."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return code


def cluster_resource(name: str) -> float:
    """How much of a resource (``CPU``, ``GPU``) the connected Ray cluster has in all."""
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return float(resources.get(name, 0.0))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def table_files(path: str | Path) -> list[Path]:
    """The data files behind ``path``: the file itself, or a folder's files (sorted)."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if path.is_file():
        return [path]
    raise InputError(f"dataset not found: {path}")


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet file or folder, or a ``.csv`` file, as a DataFrame."""
    path = Path(path)
    table_files(path)
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path, usecols=columns)
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read {path}: {first}") from exc


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file, or of a folder's files (their relative names and contents)."""
    root = Path(path)
    digest = hashlib.sha256()
    for file in table_files(root):
        if root.is_dir():
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with file.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def code_version() -> str:
    """sha256[:12] of the ``ray_jobs`` sources and the Ray and torch versions."""
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    digest.update(f"ray={ray.__version__};torch={torch.__version__}".encode())
    return digest.hexdigest()[:12]


def write_manifest(out_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``<out_dir>/manifest.json`` and print its ``{"opsbot": "manifest"}`` line."""
    path = Path(out_dir) / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    protocol.emit_manifest(str(path), manifest)
    return path
