"""Clustering records into procurements: exact keys first, then fuzzy matches best first,
never joining two groups that hold a hard conflict (complete linkage)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from models.dedupe.blocking import candidate_pairs
from models.dedupe.compare import conflicts, same_procurement
from models.dedupe.features import features


def cluster(records: Iterable[Any]) -> list[list[int]]:
    """Group records that are one procurement. Returns groups of indices into ``records``
    (every record in exactly one group; groups and members in input order)."""
    feats = [features(r) for r in records]
    parent = list(range(len(feats)))
    members: dict[int, list[int]] = {i: [i] for i in range(len(feats))}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int, check: bool) -> None:
        ri, rj = find(i), find(j)
        if ri == rj:
            return
        if check and any(conflicts(feats[x], feats[y]) for x in members[ri] for y in members[rj]):
            return
        if len(members[ri]) < len(members[rj]):
            ri, rj = rj, ri
        parent[rj] = ri
        members[ri].extend(members.pop(rj))

    # 1. exact keys: the same OCID always; the same identifier unless a conflict says no.
    by_ocid: dict[str, int] = {}
    for i, f in enumerate(feats):
        if f.ocid:
            union(i, by_ocid.setdefault(f.ocid, i), check=False)
    by_id: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(feats):
        for k in f.ids:
            by_id[k].append(i)
    for ids in by_id.values():
        for j in ids[1:]:
            union(ids[0], j, check=True)
    # 2. fuzzy matches among blocked candidates, best first.
    scored = []
    for i, j in candidate_pairs(feats):
        if find(i) == find(j):
            continue
        m = same_procurement(feats[i], feats[j])
        if m.same:
            scored.append((-m.score, i, j))
    for _, i, j in sorted(scored):
        union(i, j, check=True)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(feats)):
        groups[find(i)].append(i)
    return sorted(groups.values(), key=lambda g: g[0])
