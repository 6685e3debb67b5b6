"""The sample dataset, the model files, and the train job's input checks (no Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ray_jobs import model as fraud_model
from ray_jobs import sample_data, train


def test_sample_data_is_deterministic_for_a_seed() -> None:
    a = sample_data.generate(2_000, seed=3)
    pd.testing.assert_frame_equal(a, sample_data.generate(2_000, seed=3))
    assert not a.equals(sample_data.generate(2_000, seed=4))
    assert [c for c in a.columns if c in sample_data.FEATURES] == sample_data.FEATURES
    assert 8 <= len(sample_data.FEATURES) <= 12
    assert all(pd.api.types.is_numeric_dtype(a[c]) for c in sample_data.FEATURES)


def test_sample_data_has_a_few_percent_positives() -> None:
    rate = sample_data.generate(50_000)[sample_data.LABEL].mean()
    assert 0.03 <= rate <= 0.08


def test_sample_data_is_learnable_by_a_logistic_regression() -> None:
    df = sample_data.generate(40_000, seed=1)
    x = df[sample_data.FEATURES].to_numpy(np.float64)
    y = df[sample_data.LABEL].to_numpy(np.float64)
    x = np.c_[(x - x.mean(0)) / x.std(0), np.ones(len(x))]
    w = np.zeros(x.shape[1])
    n = 30_000
    for _ in range(200):
        p = 1 / (1 + np.exp(-x[:n] @ w))
        w -= 0.5 * x[:n].T @ (p - y[:n]) / n
    assert fraud_model.auc(y[n:], x[n:] @ w) > 0.78


def test_auc_matches_the_definition() -> None:
    assert fraud_model.auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert fraud_model.auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    assert np.isnan(fraud_model.auc(np.array([1, 1]), np.array([0.2, 0.3])))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_write_picks_the_format_by_suffix(tmp_path: Path, suffix: str) -> None:
    df = sample_data.generate(100)
    path = sample_data.write(df, tmp_path / f"d{suffix}")
    back = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    assert len(back) == 100
    assert list(back.columns) == list(df.columns)


def test_model_round_trips_through_its_directory(tmp_path: Path) -> None:
    df = sample_data.generate(500)
    x = fraud_model.as_matrix(df, sample_data.FEATURES)
    mean, std = fraud_model.standardisation(x)
    torch.manual_seed(0)
    net = fraud_model.FraudMLP(len(sample_data.FEATURES), 16, mean, std)
    version = fraud_model.save(tmp_path, net, sample_data.FEATURES, 16, mean, std)

    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["features"] == sample_data.FEATURES
    assert meta["hidden"] == 16
    assert meta["torch"] == torch.__version__
    assert len(version) == 12
    assert fraud_model.model_version(tmp_path) == version

    scorer = fraud_model.load(tmp_path)
    probs = scorer.predict(df)
    assert probs.shape == (500,)
    assert ((probs >= 0) & (probs <= 1)).all()
    with torch.inference_mode():
        expected = torch.sigmoid(net.eval()(torch.from_numpy(x))).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-6)
    np.testing.assert_allclose(scorer.predict(x), probs)


def _no_ray_start(*args: object, **kwargs: object) -> None:
    raise AssertionError("ray.init was called")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.parquet", "not found"),
        (lambda d: _write(d, sample_data.generate(50).drop(columns=["label"])), "no label"),
        (
            lambda d: _write(d, sample_data.generate(50).assign(hour="night")),
            "not numeric",
        ),
    ],
    ids=["missing-file", "no-label", "non-numeric-feature"],
)
def test_train_refuses_bad_input_with_exit_2_before_starting_ray(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    make: object,
    message: str,
) -> None:
    monkeypatch.setattr(train.ray, "init", _no_ray_start)
    dataset = make(tmp_path)  # type: ignore[operator]
    code = train.main(["--dataset", str(dataset), "--out", str(tmp_path / "model")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err
    assert not (tmp_path / "model").exists()


def _write(folder: Path, df: pd.DataFrame) -> Path:
    return sample_data.write(df, folder / "data.parquet")


def test_score_batch_scores_arrow_in_slices_one_row_per_input_row(tmp_path: Path) -> None:
    import pyarrow as pa

    from ray_jobs.batch_score import SCORE, score_batch

    df = sample_data.generate(1_000, seed=5)
    x = fraud_model.as_matrix(df, sample_data.FEATURES)
    mean, std = fraud_model.standardisation(x)
    torch.manual_seed(0)
    net = fraud_model.FraudMLP(len(sample_data.FEATURES), 16, mean, std)
    fraud_model.save(tmp_path, net, sample_data.FEATURES, 16, mean, std)
    scorer = fraud_model.load(tmp_path)
    table = pa.Table.from_pandas(df, preserve_index=False)

    whole = score_batch(scorer, table, [sample_data.ID])
    assert whole.column_names == [sample_data.ID, SCORE]
    assert whole.column(sample_data.ID).to_pylist() == df[sample_data.ID].tolist()
    np.testing.assert_allclose(whole.column(SCORE).to_numpy(), scorer.predict(df), rtol=1e-6)
    sliced = score_batch(scorer, table.to_batches()[0], [sample_data.ID], batch_size=333)
    assert sliced.num_rows == 1_000
    np.testing.assert_allclose(
        sliced.column(SCORE).to_numpy(), whole.column(SCORE).to_numpy(), rtol=1e-5
    )
    assert score_batch(scorer, table.slice(0, 0), [], batch_size=64).num_rows == 0
