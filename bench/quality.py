"""bench quality: dedupe precision / recall and the text sector classifier's macro-F1.

Dedupe is measured on the labelled set (bench/pairs: real pairs and hard non-duplicates from
the shared captures, plus re-publications derived from real notices), pair by pair with
``same_procurement``, end to end with ``cluster`` (blocking included) over every record of
the set, and through the real store (``models.store.listings``: blocking keys in SQL); then over
all real captured notices (merges across OCIDs that are not known duplicates); then on sets
built afresh from other seeds (derived pairs the matcher was never tuned on). Baseline in
the same run: exact title equality (case and spaces ignored).

The sector classifier is trained on the training side of the captures and scored on the
held-out notices; baseline: always the commonest training sector.

    python -m bench.quality [--fresh-seeds 5]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.captures import (
    CORPUS_FILE,
    PERIOD_CUTOFF,
    corpus_notices,
    corpus_path,
    labelled_notices,
    split,
    split_by_period,
)
from bench.common import line
from bench.pairs.build import REAL_DUPLICATES, build
from bench.pairs.real import FILE_NAME as REAL_PAIRS_FILE
from bench.pairs.real import load_real_pairs
from bench.pairs.recipe import KINDS, LabelledPair, fixture_records, load_pairs
from bench.pairs.store_eval import store_pair_decisions
from models.classify.sector_text import (
    CONFIDENCE_THRESHOLD,
    CPV_LIST_WEIGHT,
    cpv_descriptions,
    evaluate,
    macro_f1,
    train,
    train_linear,
)
from models.dedupe import cluster, same_procurement
from models.formats.fields import NoticeFields
from models.store.db import make_engine, migrate

FRESH_SEEDS = (101, 102, 103, 104, 105)


def exact_title(a: Any, b: Any) -> bool:
    """The naive baseline: the same title, case and spacing aside."""

    def norm(r: Any) -> str:
        return re.sub(r"\s+", " ", str(r.title).lower()).strip()

    return norm(a) == norm(b) and norm(a) != ""


def precision_recall(labels: Sequence[int], predicted: Sequence[bool]) -> tuple[float, float]:
    tp = sum(1 for y, p in zip(labels, predicted, strict=True) if y and p)
    fp = sum(1 for y, p in zip(labels, predicted, strict=True) if not y and p)
    fn = sum(1 for y, p in zip(labels, predicted, strict=True) if y and not p)
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def _key(r: NoticeFields) -> tuple[str, str]:
    return (r.ocid, r.source_id)


def cluster_decisions(
    pairs: Sequence[LabelledPair], grouper: Callable[[list[NoticeFields]], list[list[int]]]
) -> list[bool]:
    """Cluster every distinct record of the set together; a pair is merged when both of
    its records land in one group."""
    records: dict[tuple[str, str], NoticeFields] = {}
    for p in pairs:
        records.setdefault(_key(p.a), p.a)
        records.setdefault(_key(p.b), p.b)
    keys = list(records)
    group_of: dict[tuple[str, str], int] = {}
    for g, members in enumerate(grouper([records[k] for k in keys])):
        for i in members:
            group_of[keys[i]] = g
    return [group_of[_key(p.a)] == group_of[_key(p.b)] for p in pairs]


def title_groups(records: list[NoticeFields]) -> list[list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        groups[re.sub(r"\s+", " ", r.title.lower()).strip() or f"#{i}"].append(i)
    return list(groups.values())


def bench_dedupe(fresh_seeds: Sequence[int]) -> None:
    pairs = load_pairs()
    labels = [p.label for p in pairs]
    started = time.perf_counter()
    ours = [same_procurement(p.a, p.b).same for p in pairs]
    took = time.perf_counter() - started
    naive = [exact_title(p.a, p.b) for p in pairs]
    p_ours, r_ours = precision_recall(labels, ours)
    p_naive, r_naive = precision_recall(labels, naive)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for p, o, n in zip(pairs, ours, naive, strict=True):
        by_kind[p.kind]["pairs"] += 1
        by_kind[p.kind]["merged"] += o
        by_kind[p.kind]["naive merged"] += n
    n_pos = sum(labels)
    print(
        f"dedupe labelled set: {len(pairs)} pairs, {n_pos} same procurement, "
        f"{len(pairs) - n_pos} different; same_procurement {1e6 * took / len(pairs):.0f} us/pair"
    )
    for kind in KINDS:
        c = by_kind[kind]
        print(
            f"  {kind:18s} {c['pairs']:4d} pairs  merged {c['merged']:4d}  "
            f"(exact title merged {c['naive merged']})"
        )
    line("dedupe_precision", p_ours, "", p_naive, ">= 0.99")
    line("dedupe_recall", r_ours, "", r_naive, ">= 0.95")

    c_ours = cluster_decisions(pairs, cluster)
    c_naive = cluster_decisions(pairs, title_groups)
    cp, cr = precision_recall(labels, c_ours)
    cpn, crn = precision_recall(labels, c_naive)
    n_records = len({_key(r) for p in pairs for r in (p.a, p.b)})
    print(f"dedupe cluster(): all {n_records} records of the set at once (blocking included)")
    line("dedupe_cluster_precision", cp, "", cpn, ">= 0.99")
    line("dedupe_cluster_recall", cr, "", crn, ">= 0.95")

    # Through the real store (models.listings): each pair stored as two sources' releases,
    # candidates found by the blocking keys kept in SQL, the link read back.
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/pairs.db"
        migrate(url)
        engine = make_engine(url)
        started = time.perf_counter()
        s_ours = store_pair_decisions(pairs, engine)
        took = time.perf_counter() - started
        engine.dispose()
    sp_, sr_ = precision_recall(labels, s_ours)
    print(
        f"dedupe in the store (SQLite, blocking keys in SQL): {len(pairs)} pairs, "
        f"{1e3 * took / len(pairs):.1f} ms per pair stored and linked"
    )
    line("dedupe_store_precision", sp_, "", p_naive, ">= 0.99")
    line("dedupe_store_recall", sr_, "", r_naive, ">= 0.95")

    bench_dedupe_real()

    # Every real notice in the captures: merges across OCIDs beyond the known duplicates.
    captured = fixture_records()
    keys = list(captured)
    records = [captured[k] for k in keys]
    known = {frozenset((a, b)) for a, b, _ in REAL_DUPLICATES}

    def unknown_merges(groups: list[list[int]]) -> tuple[int, int]:
        found = unexpected = 0
        for g in groups:
            for x in range(len(g)):
                for y in range(x + 1, len(g)):
                    if records[g[x]].ocid == records[g[y]].ocid:
                        continue
                    if frozenset((keys[g[x]], keys[g[y]])) in known:
                        found += 1
                    else:
                        unexpected += 1
        return found, unexpected

    started = time.perf_counter()
    groups = cluster(records)
    took = time.perf_counter() - started
    found, unexpected = unknown_merges(groups)
    n_found, n_unexpected = unknown_merges(title_groups(records))
    print(
        f"dedupe over all {len(records)} captured notices: {len(groups)} groups in {took:.2f} s; "
        f"known cross-notice duplicates merged {found}/{len(known)} "
        f"(exact title {n_found}/{len(known)})"
    )
    line("dedupe_captures_unexpected_merges", unexpected, "pairs", n_unexpected, "0")

    # Sets built afresh from other seeds: derived pairs never looked at while tuning.
    if fresh_seeds:
        all_labels: list[int] = []
        all_ours: list[bool] = []
        all_naive: list[bool] = []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in fresh_seeds:
                path = Path(tmp) / f"pairs_{seed}.jsonl"
                path.write_text("".join(json.dumps(r) + "\n" for r in build(seed)))
                fresh = load_pairs(path)
                all_labels += [p.label for p in fresh]
                all_ours += [same_procurement(p.a, p.b).same for p in fresh]
                all_naive += [exact_title(p.a, p.b) for p in fresh]
        fp_, fr_ = precision_recall(all_labels, all_ours)
        fpn, frn = precision_recall(all_labels, all_naive)
        print(
            f"dedupe fresh sets, seeds {', '.join(map(str, fresh_seeds))}: "
            f"{len(all_labels)} pairs, {sum(all_labels)} same procurement "
            "(real pairs repeat in each set)"
        )
        line("dedupe_fresh_precision", fp_, "", fpn, ">= 0.99")
        line("dedupe_fresh_recall", fr_, "", frn, ">= 0.95")


def _confusions(truth: Sequence[str], predicted: Sequence[str], n: int = 8) -> str:
    pairs = Counter((t, p) for t, p in zip(truth, predicted, strict=True) if t != p)
    return "; ".join(f"{t} -> {p} {k}" for (t, p), k in pairs.most_common(n))


def _precision_at(sure: Sequence[tuple[str, float, str]], threshold: float) -> tuple[int, int]:
    labelled = [(s, truth) for s, c, truth in sure if c >= threshold]
    return sum(1 for s, truth in labelled if s == truth), len(labelled)


def bench_dedupe_real() -> None:
    """The real cross-publication set (bench/pairs/real.py): Contracts Finder and Official
    Journal awards of one period, pair by pair with ``same_procurement``."""
    path = corpus_path(REAL_PAIRS_FILE)
    if path is None:
        print(f"dedupe real pairs: no {REAL_PAIRS_FILE} (bench/pairs/real.py); not measured")
        return
    pairs = load_real_pairs(path)
    labels = [p.label for p in pairs]
    ours = [same_procurement(p.a, p.b).same for p in pairs]
    naive = [exact_title(p.a, p.b) for p in pairs]
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for p, o in zip(pairs, ours, strict=True):
        by_kind[p.kind]["pairs"] += 1
        by_kind[p.kind]["merged"] += o
    print(
        f"dedupe real pairs ({path.name}): {len(pairs)} pairs, {sum(labels)} the same award on "
        "Contracts Finder and in the Official Journal; "
        + "; ".join(f"{k} {c['pairs']} (merged {c['merged']})" for k, c in sorted(by_kind.items()))
    )
    p_ours, r_ours = precision_recall(labels, ours)
    p_naive, r_naive = precision_recall(labels, naive)
    # The same matcher blind to suppliers and buyer references (as before issue 9).
    blind = [
        same_procurement(replace(p.a, suppliers=[], tender_reference=None),
                         replace(p.b, suppliers=[], tender_reference=None)).same
        for p in pairs
    ]  # fmt: skip
    p_blind, r_blind = precision_recall(labels, blind)
    print(
        f"  without suppliers and buyer references: precision {p_blind:.3f}, recall "
        f"{r_blind:.3f} ({sum(1 for y, b in zip(labels, blind, strict=True) if b and not y)} "
        "different contracts merged)"
    )
    line("dedupe_real_precision", p_ours, "", p_naive, ">= 0.99")
    line("dedupe_real_recall", r_ours, "", r_naive, ">= 0.95")


def bench_sector_period() -> bool:
    """Held-out notices of a later period (PERIOD_CUTOFF) from the corpus plus the captures;
    False when the corpus is not there."""
    path = corpus_path()
    if path is None:
        print(
            "sector: no corpus (bench/corpus/README.md: shared/fixtures/corpus/ or var/corpus/ "
            f"{CORPUS_FILE}); the period split is not measured"
        )
        return False
    notices = corpus_notices(path) + labelled_notices()
    training, held_out = split_by_period(notices)
    cpv = cpv_descriptions()
    truth = [n.sector for n in held_out]
    started = time.perf_counter()
    linear = train_linear(training, cpv)
    took = time.perf_counter() - started
    nb = train(training, cpv)
    lin_pred = [linear.predict(n.title, n.description) for n in held_out]
    nb_pred = [nb.predict(n.title, n.description) for n in held_out]
    ours = macro_f1(truth, [s for s, _ in lin_pred])
    base = macro_f1(truth, [s for s, _ in nb_pred])
    common = Counter(n.sector for n in training).most_common(1)[0][0]
    always = macro_f1(truth, [common] * len(truth))
    print(
        f"sector (period split): {len(notices)} labelled notices ({path.name}: corpus + "
        f"captures), trained on {len(training)} published before {PERIOD_CUTOFF}, "
        f"{len(held_out)} held out from {PERIOD_CUTOFF} on; + {len(cpv)} CPV-list descriptions"
    )
    print(
        f"  linear TF-IDF + logistic regression (trained in {took:.1f} s): accuracy "
        f"{ours.accuracy:.3f}; naive Bayes (the product's model): macro-F1 {base.macro_f1:.3f}, "
        f"accuracy {base.accuracy:.3f}; always {common!r}: macro-F1 {always.macro_f1:.3f}"
    )
    per = sorted(ours.per_sector.items(), key=lambda kv: kv[1])
    held = Counter(truth)
    print("  per sector F1 (linear): " + "; ".join(f"{k} {v:.2f} (n={held[k]})" for k, v in per))
    print(
        "  commonest confusions (truth -> predicted): "
        + _confusions(truth, [s for s, _ in lin_pred])
    )
    line("sector_macro_f1", ours.macro_f1, "", base.macro_f1, ">= 0.80 (baseline: naive Bayes)")
    sure_nb = [(s, c, t) for (s, c), t in zip(nb_pred, truth, strict=True)]
    right, n = _precision_at(sure_nb, CONFIDENCE_THRESHOLD)
    print(
        f"  the product (naive Bayes) labels from text at confidence >= {CONFIDENCE_THRESHOLD}: "
        f"{right}/{n} right, {n} of {len(held_out)} held-out notices labelled"
    )
    line(
        "sector_text_label_precision_period",
        right / n if n else 0.0,
        "",
        base.accuracy,
        ">= 0.8 (baseline: every prediction used)",
    )
    sure_lin = [(s, c, t) for (s, c), t in zip(lin_pred, truth, strict=True)]
    for threshold in (0.5, 0.6, 0.7, 0.8):
        r, k = _precision_at(sure_lin, threshold)
        print(f"  linear at confidence >= {threshold}: {r}/{k} right ({k} labelled)")
    return True


def bench_sector() -> None:
    bench_sector_period()
    notices = labelled_notices()
    training, held_out = split(notices)
    cpv = cpv_descriptions()
    started = time.perf_counter()
    model = train(training, cpv)
    took = time.perf_counter() - started
    ours = evaluate(model, held_out)
    common = Counter(n.sector for n in training).most_common(1)[0][0]
    base = macro_f1([n.sector for n in held_out], [common] * len(held_out))
    text_only = evaluate(train(training), held_out)
    cpv_only = evaluate(train([], cpv), held_out)
    sure = [(model.predict(n.title, n.description), n.sector) for n in held_out]
    confident = [(s, truth) for (s, c), truth in sure if c >= 0.5]
    right = sum(1 for s, truth in confident if s == truth)
    print(
        f"sector (captures only, random split): {len(notices)} labelled notices (one per OCID), "
        f"{len(training)} train / {len(held_out)} held out; + {len(cpv)} CPV-list descriptions "
        f"(weight {CPV_LIST_WEIGHT}); naive Bayes trained in {took:.2f} s; {ours.labels} sectors"
    )
    print(
        f"  accuracy {ours.accuracy:.3f}; with confidence >= 0.5: {right}/{len(confident)} right "
        f"({len(confident)} of {len(held_out)} notices); notices only: macro-F1 "
        f"{text_only.macro_f1:.3f}; CPV list only: {cpv_only.macro_f1:.3f}"
    )
    print(f"  baseline: always {common!r}")
    line("sector_macro_f1_captures", ours.macro_f1, "", base.macro_f1, ">= 0.80")
    # What classification uses: a sector from text only at CONFIDENCE_THRESHOLD or above.
    labelled = [(s, truth) for (s, c), truth in sure if c >= CONFIDENCE_THRESHOLD]
    right = sum(1 for s, truth in labelled if s == truth)
    print(
        f"  labelled from text at confidence >= {CONFIDENCE_THRESHOLD}: {right}/{len(labelled)} "
        f"right; {len(labelled)} of {len(held_out)} held-out notices labelled"
    )
    line(
        "sector_text_label_precision",
        right / len(labelled) if labelled else 0.0,
        "",
        ours.accuracy,
        ">= 0.7 (baseline: every prediction used)",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--fresh-seeds", type=int, default=len(FRESH_SEEDS), help="fresh sets to build (0: none)"
    )
    args = ap.parse_args()
    bench_dedupe(FRESH_SEEDS[: args.fresh_seeds])
    bench_sector()


if __name__ == "__main__":
    main()
