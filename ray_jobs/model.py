"""The fraud model: a small MLP over standardised features, and its files.

A model directory holds ``model.pt`` (the ``state_dict``) and ``model.json`` (features, hidden
width, the feature means and standard deviations, the torch version). ``load`` gives a ``Scorer``
whose ``predict`` returns probabilities; ``model_version`` is the first 12 hex digits of the
sha256 of ``model.pt``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch
from torch import nn

WEIGHTS = "model.pt"
META = "model.json"

FloatArray = npt.NDArray[np.float32]


class FraudMLP(nn.Module):
    """features → hidden → hidden/2 → 1 logit, with the standardisation built in."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, n_features: int, hidden: int, mean: FloatArray, std: FloatArray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, max(hidden // 2, 1)),
            nn.ReLU(),
            nn.Linear(max(hidden // 2, 1), 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (n,)."""
        out: torch.Tensor = self.net((x - self.mean) / self.std)
        return out.squeeze(-1)


def standardisation(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-feature mean and standard deviation (1 where a feature is constant)."""
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = x.std(axis=0, dtype=np.float64).astype(np.float32)
    std[std < 1e-6] = 1.0
    return mean, std


def as_matrix(data: pd.DataFrame | npt.NDArray[Any], features: list[str]) -> FloatArray:
    """The feature matrix (float32, C order) of a DataFrame, or an array as it is."""
    if isinstance(data, pd.DataFrame):
        data = data[features].to_numpy(dtype=np.float32)
    return np.ascontiguousarray(data, dtype=np.float32)


def auc(labels: npt.NDArray[Any], scores: npt.NDArray[Any]) -> float:
    """ROC AUC by ranks (ties averaged); NaN when only one class is present."""
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(labels.size, dtype=np.float64)
    # Average rank over each run of equal scores.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


class Scorer:
    """A loaded model: ``predict`` gives fraud probabilities for rows of features."""

    def __init__(
        self, model: FraudMLP, features: list[str], version: str, device: str = "cpu"
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.features = features
        self.version = version

    def predict(self, data: pd.DataFrame | npt.NDArray[Any]) -> FloatArray:
        """Fraud probabilities (float32), one per row; a DataFrame needs the feature columns."""
        x = torch.from_numpy(as_matrix(data, self.features)).to(self.device)
        with torch.inference_mode():
            probs = torch.sigmoid(self.model(x))
        return probs.cpu().numpy().astype(np.float32, copy=False)


def save(
    model_dir: str | Path,
    model: FraudMLP,
    features: list[str],
    hidden: int,
    mean: FloatArray,
    std: FloatArray,
) -> str:
    """Write ``model.pt`` and ``model.json`` into ``model_dir``; returns the model version."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, model_dir / WEIGHTS)
    meta = {
        "features": features,
        "hidden": hidden,
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "torch": torch.__version__,
    }
    (model_dir / META).write_text(json.dumps(meta, indent=2) + "\n")
    return model_version(model_dir)


def metadata(model_dir: str | Path) -> dict[str, Any]:
    """The content of ``model.json``."""
    meta: dict[str, Any] = json.loads((Path(model_dir) / META).read_text())
    return meta


def load(model_dir: str | Path, device: str = "cpu") -> Scorer:
    """The model in ``model_dir``, on ``device``, ready to predict."""
    model_dir = Path(model_dir)
    meta = metadata(model_dir)
    features = [str(f) for f in meta["features"]]
    model = FraudMLP(
        len(features),
        int(meta["hidden"]),
        np.asarray(meta["mean"], dtype=np.float32),
        np.asarray(meta["std"], dtype=np.float32),
    )
    state = torch.load(model_dir / WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return Scorer(model, features, model_version(model_dir), device)


def model_version(model_dir: str | Path) -> str:
    """The first 12 hex digits of the sha256 of ``model.pt``."""
    return hashlib.sha256((Path(model_dir) / WEIGHTS).read_bytes()).hexdigest()[:12]
