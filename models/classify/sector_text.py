"""Sector from text, for notices that carry no CPV code.

The product's model: a multinomial naive Bayes over words (lower-cased, lightly stemmed; the
title counted three times, the first 300 characters of the description once), written with
numpy. Beside it, measured in bench/quality.py, a linear model (``LinearSectorModel``: TF-IDF
of words and word pairs, logistic regression with balanced classes; fitted with scikit-learn,
kept and applied as numpy arrays). On held-out notices of a later period (bench/corpus) it
scores macro-F1 0.58 against naive Bayes's 0.55, far from the 0.80 asked, and takes a minute
to train against a fifth of a second: the product keeps naive Bayes until more data moves
the figure (see the bench's per-sector F1 and confusions).

Two trainings share the code here. For the product, ``models.store.sectors`` trains from
the stored opportunities that carry CPV codes (plus the CPV list when it is available) and
keeps the model in a file; ``classify_opportunity`` uses it for notices without CPV codes,
only at ``CONFIDENCE_THRESHOLD`` or above (below it the notice gets no sector: a
low-confidence guess is not shown as a sector). For measurement (bench/quality.py and the
tests), ``default_model()`` trains on the shared captures (``Settings.fixtures_dir``; see
SOURCES.md there): every real notice that carries a CPV code, labelled with the sector of its
first CPV code (``models.classify.sectors_for``), one notice per OCID; plus the 9,454
descriptions of the CPV 2008 list, each labelled with the sector of its division (so that
words no notice has used yet, "defibrillators", still point somewhere). It is trained at
first use (well under a second) and cached for the process; nothing in the product path
calls it.

Held-out evaluation: notices are split by a hash of their normalised title and a fixed seed
(``SPLIT_SEED``; notices with the same title fall on the same side), a quarter held out; and,
with the corpus, by period (``bench.captures.split_by_period``).
``default_model()`` is trained on the training side only, so the held-out notices stay
unseen by anything that uses ``predict_sector``.

    predict_sector("Grounds maintenance of parks", "Grass cutting and hedges")
    -> ("Grounds, farming and environment", 0.265)

Confidence is a tempered posterior (see TEMPERATURE): on held-out notices about half the
predictions are right, and the mean confidence is about the same; predictions with
confidence of 0.6 or more are right about four times in five on a later period. A text with
no known word gets the commonest training sector with its share as the confidence.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.classify import SECTORS, sectors_for

SPLIT_SEED = "bidbell-sector-v1"
TEST_FRACTION = 0.25
TITLE_WEIGHT = 3
DESCRIPTION_CHARS = 300
ALPHA = 0.3  # additive smoothing
CPV_LIST_WEIGHT = 1.0  # weight of one CPV-list description against one notice
# Naive Bayes posteriors are far too sure of themselves (mean confidence 0.95 at 50%
# accuracy): log-likelihoods are divided by this before the softmax. 10 makes the mean
# confidence match the accuracy on held-out notices of six other split seeds.
TEMPERATURE = 10.0
# Below this confidence a prediction is not used as an opportunity's sector (classify with a
# model): such a notice keeps no sector and sector_basis None rather than a guess. Chosen on
# held-out notices as the point where predictions are right four times in five. On notices
# of a later period (bench/corpus: trained on 3,196 notices published before 2024, judged on
# the 970 published since) the product's model labels 469 at 0.6 or more and 392 of those
# are right (0.84); 0.55: 0.81, 0.5: 0.79, 0.4: 0.74. On the captures' random split: 37 of
# 50 right at 0.6 (0.74). bench/quality.py prints both.
CONFIDENCE_THRESHOLD = 0.6
# The CPV 2008 list, shipped with the package (see data/README.md for its provenance).
CPV_LIST = Path(__file__).resolve().parent / "data" / "cpv_2008_codes_en.csv"

# --- text -> words -------------------------------------------------------------------------

_STOP = frozenset(
    """the and for with from that this will are all any its their our you which has have
    been not but can may must per into such other also within including include includes
    provide provision provider providers service services supply supplies contract contracts
    tender tenders tendering council authority requirement requirements opportunity notice
    procurement framework agreement lot lots new various""".split()  # noqa: SIM905
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ers", "er", "es", "s")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def words(text: str) -> list[str]:
    """'Grounds Maintenance Services' -> ['ground', 'maintenance']."""
    return [_stem(w) for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2 and w not in _STOP]


def notice_words(title: str, description: str) -> list[str]:
    return words(title) * TITLE_WEIGHT + words(description[:DESCRIPTION_CHARS])


# --- the labelled notices and their split --------------------------------------------------


@dataclass(frozen=True)
class LabelledNotice:
    file: str
    record: str
    title: str
    description: str
    sector: str
    published: str = ""  # YYYY-MM-DD, when known (held-out notices of a later period)

    @property
    def group(self) -> str:
        """Notices with the same normalised title are one group (one side of the split)."""
        return " ".join(re.findall(r"[a-z0-9]+", self.title.lower()))


def cpv_descriptions(path: Path = CPV_LIST) -> list[tuple[str, str]]:
    """(description, sector) for every code of the CPV 2008 list in a known division."""
    out = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            sectors = sectors_for([row["CODE"][:8]])
            if sectors:
                out.append((row["EN"], sectors[0]))
    return out


# --- the model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SectorModel:
    classes: tuple[str, ...]
    vocabulary: dict[str, int]
    log_likelihood: np.ndarray  # classes x words
    log_prior: np.ndarray  # classes
    n_train: int
    fallback: tuple[str, float]  # the commonest training sector and its share
    class_counts: tuple[int, ...] = ()  # training notices of each class
    store_size: int = 0  # opportunities in the store when trained from it (models.sector_labels)

    def posterior(self, title: str, description: str = "") -> np.ndarray | None:
        """Probability of each class, or None when no word of the text is known."""
        idx = [self.vocabulary[w] for w in notice_words(title, description) if w in self.vocabulary]
        if not idx:
            return None
        scores = self.log_prior + self.log_likelihood[:, idx].sum(axis=1) / TEMPERATURE
        scores = scores - scores.max()
        p = np.exp(scores)
        return p / p.sum()

    def predict(self, title: str, description: str = "") -> tuple[str, float]:
        p = self.posterior(title, description)
        if p is None:  # nothing to go on: the commonest sector, as sure as it is common
            return self.fallback
        best = int(np.argmax(p))
        return self.classes[best], round(float(p[best]), 3)

    def confident_sector(
        self, title: str, description: str = "", threshold: float = CONFIDENCE_THRESHOLD
    ) -> str | None:
        """The sector when the text says it with at least ``threshold`` confidence; None
        otherwise, and None for a text with no known word (no fallback guess)."""
        p = self.posterior(title or "", description or "")
        if p is None:
            return None
        best = int(np.argmax(p))
        return self.classes[best] if round(float(p[best]), 3) >= threshold else None


def train(
    notices: Iterable[LabelledNotice],
    cpv_list: Iterable[tuple[str, str]] = (),
    cpv_weight: float = CPV_LIST_WEIGHT,
    uniform_prior: bool = True,
) -> SectorModel:
    """Multinomial naive Bayes. A uniform prior: a small sector is not less likely to be
    right because the captures hold few of it (it is the macro average that counts)."""
    classes = tuple(SECTORS)
    counts: dict[str, dict[str, float]] = {c: defaultdict(float) for c in classes}
    prior: Counter[str] = Counter()
    n = 0
    for notice in notices:
        n += 1
        prior[notice.sector] += 1
        for w in notice_words(notice.title, notice.description):
            counts[notice.sector][w] += 1.0
    for text, sector in cpv_list:
        for w in words(text):
            counts[sector][w] += cpv_weight
    vocabulary = {w: i for i, w in enumerate(sorted({w for c in counts.values() for w in c}))}
    matrix = np.zeros((len(classes), len(vocabulary)))
    for ci, c in enumerate(classes):
        for w, v in counts[c].items():
            matrix[ci, vocabulary[w]] = v
    smoothed = matrix + ALPHA
    log_likelihood = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
    if uniform_prior:
        log_prior = np.full(len(classes), -math.log(len(classes)))
    else:
        p = np.array([prior[c] + 1.0 for c in classes])
        log_prior = np.log(p / p.sum())
    common = prior.most_common(1)
    fallback = (common[0][0], round(common[0][1] / n, 3)) if common else (classes[0], 0.0)
    counts_per_class = tuple(prior[c] for c in classes)
    return SectorModel(
        classes, vocabulary, log_likelihood, log_prior, n, fallback, counts_per_class
    )


@dataclass(frozen=True)
class Evaluation:
    macro_f1: float
    accuracy: float
    n: int
    labels: int  # sectors counted in the macro average (true or predicted)
    per_sector: dict[str, float]


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> Evaluation:
    """Macro-averaged F1 over the sectors that occur in the truth or the predictions."""
    labels = sorted(set(truth) | set(predicted))
    per: dict[str, float] = {}
    for c in labels:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == c and p == c)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != c and p == c)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == c and p != c)
        per[c] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    correct = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p)
    return Evaluation(
        macro_f1=sum(per.values()) / len(per) if per else 0.0,
        accuracy=correct / len(truth) if truth else 0.0,
        n=len(truth),
        labels=len(labels),
        per_sector=per,
    )


def evaluate(model: SectorModel, notices: Sequence[LabelledNotice]) -> Evaluation:
    predicted = [model.predict(n.title, n.description)[0] for n in notices]
    return macro_f1([n.sector for n in notices], predicted)


# --- a linear model over TF-IDF features (scikit-learn to fit; numpy to apply) -----------


def linear_features(title: str, description: str) -> list[str]:
    """The words of ``notice_words`` and the pairs of neighbouring words ("grass_cut")."""
    w = notice_words(title, description)
    return w + [f"{a}_{b}" for a, b in itertools.pairwise(w) if a != b]


LINEAR_C = 10.0  # inverse regularisation (set on held-out notices of a later period)


@dataclass(frozen=True)
class LinearSectorModel:
    """Multinomial logistic regression over sub-linear TF-IDF of ``linear_features``,
    classes balanced. Fitted with scikit-learn; kept and applied as plain arrays (no pickle,
    no scikit-learn needed to apply it). Same questions as ``SectorModel``."""

    classes: tuple[str, ...]
    vocabulary: dict[str, int]
    idf: np.ndarray  # words
    coef: np.ndarray  # classes x words
    intercept: np.ndarray  # classes
    n_train: int

    def posterior(self, title: str, description: str = "") -> np.ndarray | None:
        counts: Counter[int] = Counter(
            self.vocabulary[f] for f in linear_features(title, description) if f in self.vocabulary
        )
        if not counts:
            return None
        idx = np.fromiter(counts, dtype=np.int64)
        x = (1.0 + np.log(np.fromiter(counts.values(), dtype=float))) * self.idf[idx]
        x /= np.linalg.norm(x)
        scores = self.coef[:, idx] @ x + self.intercept
        p = np.exp(scores - scores.max())
        return p / p.sum()

    def predict(self, title: str, description: str = "") -> tuple[str, float]:
        p = self.posterior(title, description)
        if p is None:
            return self.classes[int(np.argmax(self.intercept))], 0.0
        best = int(np.argmax(p))
        return self.classes[best], round(float(p[best]), 3)


def fit_linear(
    notices: Iterable[LabelledNotice],
    cpv_list: Iterable[tuple[str, str]] = (),
    cpv_weight: float = 0.3,
    c: float = LINEAR_C,
) -> tuple[Any, Any, int]:
    """The fitted scikit-learn parts (vectoriser, logistic regression) and how many notices
    they were fitted on; ``train_linear`` keeps their parameters as arrays."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    docs = [(linear_features(n.title, n.description), n.sector, 1.0) for n in notices]
    n_train = len(docs)
    docs += [(linear_features(text, ""), sector, cpv_weight) for text, sector in cpv_list]
    vec = TfidfVectorizer(analyzer=_as_is, sublinear_tf=True)
    x = vec.fit_transform([d for d, _, _ in docs])
    lr = LogisticRegression(C=c, max_iter=500, tol=1e-3, class_weight="balanced")
    lr.fit(x, [s for _, s, _ in docs], sample_weight=[w for _, _, w in docs])
    return vec, lr, n_train


def _as_is(features: list[str]) -> list[str]:
    return features


def train_linear(
    notices: Iterable[LabelledNotice],
    cpv_list: Iterable[tuple[str, str]] = (),
    cpv_weight: float = 0.3,
    c: float = LINEAR_C,
) -> LinearSectorModel:
    """Fit on notices (and the CPV list's descriptions, each ``cpv_weight`` of a notice) and
    keep the fitted parameters as plain arrays."""
    vec, lr, n_train = fit_linear(notices, cpv_list, cpv_weight, c)
    known = list(lr.classes_)
    if len(known) < 3:  # two classes make one coefficient row: not this model's shape
        raise ValueError(f"a linear sector model needs three sectors or more, not {known}")
    order = [known.index(s) for s in SECTORS if s in known]
    return LinearSectorModel(
        classes=tuple(str(known[i]) for i in order),
        vocabulary={str(w): int(i) for w, i in vec.vocabulary_.items()},
        idf=np.asarray(vec.idf_, dtype=float),
        coef=np.asarray(lr.coef_[order], dtype=float),
        intercept=np.asarray(lr.intercept_[order], dtype=float),
        n_train=n_train,
    )
