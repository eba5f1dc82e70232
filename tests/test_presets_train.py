"""The presets train what they hold: on the quickstart corpus, each preset's model reaches a
converged linear reference computed here, from the same data (no number is hard-coded).

* ``*_elmo`` (frozen biLM, scalar mix, max pooling, linear) against a logistic-regression
  probe on the same frozen features: the max over time of the equally weighted mix of the
  mini biLM's 3 layers (what the head sees before it learns its mix), standardised, with
  the inverse regularisation C chosen on the validation split, solved to convergence.
* ``*_baseline`` (word embeddings, BiLSTM, max pooling) against a bag-of-words
  logistic regression (binary word presence, C chosen on validation).

The preset's test accuracy is the mean over seeds 1-3 (the probe has no seed). "Reaches"
allows one standard error of the probe's test accuracy, sqrt(p (1 - p) / n): on 500 test
sentences two equally good models differ by about that much from the draw of the test set
alone.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from elmo_tasks.elmo import ElmoBiLm, batch_to_ids, remove_sentence_boundaries
from elmo_tasks.runs.experiment import build, run
from tests.compose import compose_config

sklearn = pytest.importorskip(
    "sklearn", reason="scikit-learn (the dev extra) computes the reference probes"
)
from sklearn.feature_extraction.text import CountVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

SPLITS = ("train", "validation", "test")
QUIET = ["callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false", "threads=1"]
SEEDS = (1, 2, 3)


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ELMO_TASKS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _splits(cfg) -> dict[str, tuple[list[list[str]], np.ndarray]]:
    """Tokens and label ids of each split, exactly as the experiment reads them."""
    datamodule, _ = build(cfg)
    return {
        split: (
            [row["tokens"] for row in datamodule.splits[split]],
            np.array([row["label"] for row in datamodule.splits[split]]),
        )
        for split in SPLITS
    }


def _probe_test_accuracy(features: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> float:
    """Test accuracy of standardised logistic regression with C chosen on validation."""
    scaler = StandardScaler().fit(features["train"])
    x = {split: scaler.transform(features[split]) for split in SPLITS}
    best = None
    for c in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0):
        probe = LogisticRegression(C=c, max_iter=20000, tol=1e-6).fit(x["train"], labels["train"])
        val = probe.score(x["validation"], labels["validation"])
        if best is None or val > best[0]:
            best = (val, probe.score(x["test"], labels["test"]))
    return best[1]


def _max_of_equal_mix(bilm: ElmoBiLm, sentences: list[list[str]]) -> np.ndarray:
    rows = []
    for start in range(0, len(sentences), 64):
        output = bilm(batch_to_ids(sentences[start : start + 64]))
        mixed, mask = remove_sentence_boundaries(
            torch.stack(output["activations"]).mean(dim=0), output["mask"]
        )
        rows.append(mixed.masked_fill(~mask.unsqueeze(-1), -1e4).amax(dim=1))
    return torch.cat(rows).numpy()


def _tolerance(accuracy: float, n: int) -> float:
    return math.sqrt(accuracy * (1.0 - accuracy) / n)


def _mean_test_accuracy(tmp_path: Path, experiment: str) -> float:
    """The preset's test accuracy on the quickstart corpus, averaged over ``SEEDS``."""
    accuracies = []
    for seed in SEEDS:
        run(
            compose_config(
                tmp_path / f"seed{seed}", [f"experiment={experiment}", f"seed={seed}", *QUIET]
            )
        )
        accuracies.append(
            json.loads((tmp_path / f"seed{seed}" / "results.json").read_text())["test"]["accuracy"]
        )
    return sum(accuracies) / len(accuracies)


@pytest.mark.slow
def test_the_elmo_preset_reaches_a_linear_probe_on_its_frozen_features(
    tmp_path: Path, cache: Path
) -> None:
    cfg = compose_config(tmp_path / "probe", ["experiment=quickstart/elmo", *QUIET])
    assert cfg.encoder.requires_grad is False and cfg.head._target_.endswith("MaxPoolingClassifier")
    data = _splits(cfg)
    bilm = ElmoBiLm(cfg.encoder.options_file, cfg.encoder.weight_file)
    probe = _probe_test_accuracy(
        {split: _max_of_equal_mix(bilm, data[split][0]) for split in SPLITS},
        {split: data[split][1] for split in SPLITS},
    )
    head = _mean_test_accuracy(tmp_path, "quickstart/elmo")
    n = len(data["test"][1])
    assert head >= probe - _tolerance(probe, n), (
        f"ELMo head {head:.3f} < linear probe {probe:.3f} on the same features"
    )


@pytest.mark.slow
def test_the_baseline_preset_reaches_a_bag_of_words_probe(tmp_path: Path, cache: Path) -> None:
    cfg = compose_config(tmp_path / "probe", ["experiment=quickstart/baseline", *QUIET])
    data = _splits(cfg)
    words = CountVectorizer(analyzer=lambda tokens: [t.lower() for t in tokens], binary=True).fit(
        data["train"][0]
    )
    probe = _probe_test_accuracy(
        {split: words.transform(data[split][0]).toarray().astype(np.float64) for split in SPLITS},
        {split: data[split][1] for split in SPLITS},
    )
    baseline = _mean_test_accuracy(tmp_path, "quickstart/baseline")
    n = len(data["test"][1])
    assert baseline >= probe - _tolerance(probe, n), (
        f"baseline {baseline:.3f} < bag-of-words probe {probe:.3f}"
    )
