"""The linear text sector model (TF-IDF + logistic regression): fitted with scikit-learn,
kept as plain arrays and applied with numpy alone; and the labelled corpus's reader and its
split by period (bench.captures). Trained on the real notices of the shared captures."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from bench.captures import corpus_notices, labelled_notices, split, split_by_period
from models.classify import SECTORS
from models.classify.sector_text import LabelledNotice, fit_linear, linear_features, train_linear


@pytest.fixture(scope="module")
def captures(fixtures_dir: Path) -> tuple[list[LabelledNotice], list[LabelledNotice]]:
    return split(labelled_notices(fixtures_dir))


@pytest.fixture(scope="module")
def model(captures):
    return train_linear(captures[0])


def test_the_arrays_give_what_scikit_learn_gives(captures, model) -> None:
    """The parameters kept as arrays reproduce the fitted model's probabilities exactly, on
    held-out real notices (no pickle, no scikit-learn needed to apply the model)."""
    training, held_out = captures
    vec, lr, n = fit_linear(training)
    assert n == model.n_train == len(training)
    texts = [
        n
        for n in held_out
        if any(f in model.vocabulary for f in linear_features(n.title, n.description))
    ]
    assert len(texts) > 100
    expected = lr.predict_proba(
        vec.transform([linear_features(n.title, n.description) for n in texts])
    )
    order = [list(lr.classes_).index(c) for c in model.classes]
    ours = np.array([model.posterior(n.title, n.description) for n in texts])
    np.testing.assert_allclose(ours, expected[:, order], atol=1e-9)
    assert list(model.classes) == [s for s in SECTORS if s in model.classes]
    assert {model.predict(n.title, n.description)[0] for n in texts} <= set(model.classes)


def test_a_text_with_no_known_word_is_no_guess(model) -> None:
    sector, confidence = model.predict("zzzz qqqq", "")
    assert confidence == 0.0 and sector in model.classes


def test_the_corpus_is_read_and_split_by_period(tmp_path: Path) -> None:
    """CONSTRUCTED corpus lines (the shape bench/corpus/build.py writes; the real corpus is
    not in the repository): labelled by the first CPV code's sector, split by date."""
    rows = [
        {"id": "a", "source": "s", "published": "2019-05-01", "title": "Grass cutting",
         "description": "", "cpv": ["77314000"], "provenance": "constructed"},
        {"id": "b", "source": "s", "published": "2024-02-01", "title": "School meals",
         "description": "", "cpv": ["55524000", "15000000"], "provenance": "constructed"},
        {"id": "c", "source": "s", "published": "2025-02-01", "title": "Unknown division",
         "description": "", "cpv": ["99999999"], "provenance": "constructed"},
    ]  # fmt: skip
    path = tmp_path / "notices.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    notices = corpus_notices(path)
    assert [(n.record, n.sector, n.published) for n in notices] == [
        ("a", "Grounds, farming and environment", "2019-05-01"),
        ("b", "Food and catering", "2024-02-01"),
    ]
    before, after = split_by_period(
        [*notices, LabelledNotice("f", "x", "t", "", "Food and catering")]
    )
    assert [n.record for n in before] == ["a"] and [n.record for n in after] == ["b"]
