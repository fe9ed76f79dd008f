"""One opportunity, several listings: link stored opportunities that are one procurement.

An opportunity is keyed by OCID. The same procurement published on a council portal,
Contracts Finder and Find a Tender carries three OCIDs, so three rows; this module finds
those rows and points the later ones at the first (``canonical_id``), with the reasons in
words (``duplicate_reasons``). Matching, listing and feeds read canonical rows only; a
canonical row's listings are itself and the rows that point at it.

Candidates come from SQL, not from a scan: every opportunity writes its blocking keys to
``opportunityblock`` (buyer word x closing day, buyer word x publication week, rare title
word x day/week, published identifiers, references in the title: ``models.dedupe``; each
as its 64-bit hash, ``key_hashes``), stored exactly and probed with the spread (closing day
+-1, publication week +-1), so two rows meet when their keys are near. Beside them, in
``opportunityref``, each row keeps what its notices say and an opportunity row does not
hold (the identifiers they publish, the buyer's reference, the awarded suppliers), so a
stored row read back is compared with them. A key shared by more than
``dedupe.BLOCK_CAP`` rows says nothing and is ignored; one shared by more than ``KEY_CAP``
gives each row only the ``KEY_CAP`` rows stored nearest to it. The decision is
``dedupe.same_procurement``; a row joins a group only if it has no hard conflict (another
lot, call-off, year, supplier...) with any member of it.

A group never grows past ``MAX_GROUP`` listings: joining checks every pair of members for
a conflict, and rows alike in the hundreds (a framework's call-offs) are a series, not one
procurement published that many times.

A listing always points straight at its group's canonical row (when two groups join,
every member is re-pointed at the new one), never at another listing.

The first-seen row (lowest id) stays canonical, so alerts already sent for it stay the ones
that count, and a later listing never alerts again.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import OrderedDict, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

import xxhash
from sqlalchemy import delete, func, select, update
from sqlmodel import Session

from models import dedupe
from models.store.tables import Opportunity, OpportunityBlock, OpportunityRef
from models.store.upsert import insert_plain_rows, select_plain_in, update_rows

IN_CHUNK = 5000  # bound parameters per IN (...) list (SQLite allows 32766)
# Listings of one procurement are a handful (a portal, Contracts Finder, Find a Tender, a
# re-publication or two). Rows that would make a group larger are a series alike (a
# framework's call-offs), not one procurement: they are not joined, which bounds the
# pairwise conflict checks of a join (complete linkage costs |a| x |b|).
MAX_GROUP = 50
# A blocking key shared by more rows than this (but not more than dedupe.BLOCK_CAP, past
# which a key says nothing) gives a row only the KEY_CAP rows stored nearest to it (by id):
# the comparisons a row costs stay bounded when hundreds are alike.
KEY_CAP = 32
# The columns dedupe compares (plus what linking needs).
COLUMNS = (
    "id",
    "ocid",
    "title",
    "description",
    "buyer_name",
    "buyer_id",
    "value_amount",
    "value_amount_gross",
    "value_min",
    "deadline",
    "published_at",
    "url",
    "canonical_id",
    "content_hash",
)
# Dedupe features of stored rows by id, with the content hash they were computed from: a
# candidate met again (the next call-off of a framework, next week's notices of a buyer)
# is not parsed again. Rows being linked always recompute and replace theirs.
FEATURE_CACHE_SIZE = 10_000
_features: OrderedDict[tuple[str, int], tuple[str, dedupe.Features]] = OrderedDict()


def _db(session: Session) -> str:
    return str(session.get_bind().engine.url)


def _remember(key: tuple[str, int], digest: str | None, f: dedupe.Features) -> None:
    if not digest:
        _features.pop(key, None)
        return
    _features[key] = (digest, f)
    _features.move_to_end(key)
    while len(_features) > FEATURE_CACHE_SIZE:
        _features.popitem(last=False)


@dataclass
class LinkResult:
    linked: int = 0  # rows that are (still or now) another listing of an earlier one
    # New rows not written yet (``link_listings``' ``new_ids``): the link of each that has
    # one, for the caller to insert with the row (canonical id, reasons)
    links: dict[int, tuple[int, list[str]]] = field(default_factory=dict)


def _chunks(items: Sequence[Any], n: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _rare_words(f: dedupe.Features) -> list[str]:
    """Two title words to block on: the longest (a proxy for rare: no corpus counts here)."""
    return sorted(set(f.title.tokens), key=lambda w: (-len(w), w))[:2]


# What an opportunity row does not hold but the comparison needs, kept beside its blocking
# keys as text (``opportunityref``): the identifiers its notices publish ("i:", probed as
# blocking keys too), the buyer's reference ("tref:") and the awarded suppliers ("sup:").
REF_CHARS = 160  # the length of opportunityref.value


def _carried_values(f: dedupe.Features) -> list[str]:
    """A row's ``opportunityref`` values, each once (a list: the kinds' prefixes differ, and
    ids and suppliers are sets; only values cut to the column's length can meet)."""
    values = [f"i:{i}" for i in f.ids]
    if f.suppliers:
        values += [f"sup:{s}" for s in f.suppliers]
    if f.tender_ref:
        values.append(f"tref:{f.tender_ref}")
    if values and max(map(len, values)) > REF_CHARS:
        values = list(dict.fromkeys(v[:REF_CHARS] for v in values))
    return values


_HALF = 1 << 63


def key_hashes(keys: Iterable[str]) -> array[int]:
    """Blocking keys as the store keeps and probes them (``opportunityblock.key``): the xxh3
    64-bit hash of each key's UTF-8, as a signed integer (both databases' 64-bit integer),
    packed (an array pickles as its bytes: the parsing workers send a batch's 40,000-odd
    keys to the writer). Keys are only ever compared for equality; two keys with one hash
    (about one pair in 2^64) would make their rows candidates, which the comparison then
    judges."""
    digest = xxhash.xxh3_64_intdigest
    return array("q", [digest(k.encode()) - _HALF for k in keys])


def key_hash(key: str) -> int:
    """One key as ``key_hashes`` keeps it."""
    return key_hashes((key,))[0]


# A row as linking reads it: its dedupe features, the keys it is stored under and the keys
# it probes with (``key_hashes``). Pure: worked out where the notices are parsed when it
# can be (models.store.store.Derived).
Linkage = tuple[dedupe.Features, Collection[int], Collection[int]]


def linkage(row: Mapping[str, Any]) -> Linkage:
    """The features and keys of one opportunity row (as ``link_listings`` takes rows)."""
    f = dedupe.features(row)
    stored, probes = dedupe.listing_key_sets(f, _rare_words(f))
    return f, key_hashes(stored), key_hashes(probes)


def link_listings(
    session: Session,
    rows: Sequence[Mapping[str, Any]],
    known: Mapping[int, Linkage] | None = None,
    new_ids: Collection[int] = (),
) -> LinkResult:
    """Write the blocking keys of these (new or changed) opportunities and link each to an
    earlier opportunity that is the same procurement. ``rows`` are opportunity column dicts
    with ``id``, optionally with ``references`` (the source ids of their notices),
    ``tender_reference`` and ``suppliers`` (of their notices: ``opportunityref``). ``known``: the
    ``linkage`` of rows by id, where it was worked out already; ``new_ids``: rows new in
    this transaction, not written yet (no keys or links of theirs to clear; nothing reads
    them from the database): their links are returned (``LinkResult.links``) to be
    inserted with them, not written by an UPDATE after the insert."""
    result = LinkResult()
    if not rows:
        return result
    db = _db(session)
    table = Opportunity.__table__  # type: ignore[attr-defined]
    blocks = OpportunityBlock.__table__  # type: ignore[attr-defined]
    refs = OpportunityRef.__table__  # type: ignore[attr-defined]
    batch_ids = sorted(int(r["id"]) for r in rows)
    feats: dict[int, dedupe.Features] = {}
    # (key, row) to write: a list, as rows differ and a row's keys are a set
    stored: list[tuple[int, int]] = []
    carried: list[tuple[int, str]] = []  # (row, value) of opportunityref
    probes: dict[int, Collection[int]] = {}
    for r in rows:
        oid = int(r["id"])
        got = known.get(oid) if known else None
        f, keys, probe = got if got is not None else linkage(r)
        feats[oid] = f
        _remember((db, oid), r.get("content_hash"), f)
        stored.extend(zip(keys, repeat(oid)))
        carried.extend(zip(repeat(oid), _carried_values(f)))
        probes[oid] = probe
    # A changed row is judged afresh: its old keys and its old link go.
    for part in _chunks([i for i in batch_ids if i not in new_ids]):
        session.execute(delete(blocks).where(blocks.c.opportunity_id.in_(part)))
        session.execute(delete(refs).where(refs.c.opportunity_id.in_(part)))
        session.execute(
            update(table)
            .where(table.c.id.in_(part), table.c.canonical_id.is_not(None))
            .values(canonical_id=None, duplicate_reasons=[])
        )

    # Who shares a key with whom: the stored rows, read before the batch's own keys are
    # written (no key of a batch row is in the table now), and the batch's rows from here
    # (reading back the dozen keys a row just written was nine in ten rows the probe read).
    # (in any order: a key's holders come in the index's order whatever the order asked,
    # and sorting a batch's 25,000 probe keys took 11-14 ms)
    probe_keys = set().union(*probes.values())
    members: dict[int, list[int]] = defaultdict(list)
    for key, oid in select_plain_in(
        session, OpportunityBlock, ("key", "opportunity_id"), "key", list(probe_keys)
    ):
        members[key].append(oid)
    for key, oid in stored:
        if key in probe_keys:
            members[key].append(oid)
    # in the key index's order (a key's rows in batch order: the index orders them itself)
    stored.sort(key=itemgetter(0))
    insert_plain_rows(session, OpportunityBlock, ("key", "opportunity_id"), stored)
    carried.sort()  # in the primary key's order
    insert_plain_rows(session, OpportunityRef, ("opportunity_id", "value"), carried)
    for sharing in members.values():
        if KEY_CAP < len(sharing) <= dedupe.BLOCK_CAP:
            sharing.sort()
    candidates: dict[int, set[int]] = {}
    for oid, keys in probes.items():
        near: set[int] = set()
        for k in members.keys() & keys:  # only the probes someone holds (a set operation in C)
            sharing = members[k]
            if len(sharing) <= KEY_CAP:
                near.update(sharing)
            elif len(sharing) <= dedupe.BLOCK_CAP:  # a key shared by very many says nothing
                # a crowded key: the rows nearest in the order stored, a bounded number
                at = bisect_left(sharing, oid)
                near.update(sharing[max(0, at - KEY_CAP // 2) : at + KEY_CAP // 2 + 1])
        near.discard(oid)
        candidates[oid] = near
    wanted = set().union(*candidates.values()) - set(feats)
    loaded = _load(session, wanted) if wanted else {}
    canon: dict[int, int | None] = {oid: None for oid in feats}
    before: dict[int, int | None] = {}  # stored rows' links as read (batch rows: reset)
    for oid, (fl, c) in loaded.items():
        assert fl is not None  # (every candidate's features asked for)
        feats[oid] = fl
        canon[oid] = before[oid] = c

    def root(oid: int) -> int:
        c = canon.get(oid)
        return c if c is not None else oid

    # Every stored member of the groups met here, read at once (not a query per group
    # joined): a group's size is then known before its rows are compared. A group of
    # MAX_GROUP or more joins nothing (a join needs |a| + |b| <= MAX_GROUP), so its rows
    # count, by their links, and their features are never read (near-duplicates: the
    # groups met grew to 11,000 rows a batch at 20,000 notices, over the feature cache).
    roots = {root(o) for o in canon}
    listed = _members(session, roots)
    unread = roots.union(*listed.values()) - set(feats)
    joinable: set[int] = set()
    for top in roots:
        group = listed[top] | {top}
        if len(group) < MAX_GROUP:
            joinable |= group
    for o, (fm, c) in _load(session, unread, joinable).items():
        if fm is not None:
            feats[o] = fm
        canon[o] = before[o] = c
    groups: dict[int, set[int]] = defaultdict(set)  # root -> members (itself included)
    for o in canon:
        groups[root(o)].add(o)

    reasons: dict[int, list[str]] = {}
    refused: set[tuple[int, int, int, int]] = set()  # groups found in conflict, as they were
    for oid in batch_ids:
        scored = []
        for other in candidates[oid]:
            mine, theirs = root(oid), root(other)
            if mine == theirs:
                continue
            if len(groups[mine]) + len(groups[theirs]) > MAX_GROUP:
                continue  # groups only grow: these two can never join, so why compare
            m = dedupe.same_procurement(feats[oid], feats[other], explain=False)
            if m.same:
                scored.append((-m.score, other, m.reasons))
        for _, other, why in sorted(scored, key=lambda s: (s[0], s[1])):
            mine, theirs = root(oid), root(other)
            if mine == theirs:
                continue
            a, b = groups[mine], groups[theirs]
            if len(a) + len(b) > MAX_GROUP:
                continue  # a series (call-offs), not listings of one procurement: bounded work
            state = (mine, len(a), theirs, len(b))  # a group changes only by growing
            if state in refused:
                continue
            if any(dedupe.has_conflict(feats[x], feats[y]) for x in a for y in b):
                refused.add(state)
                continue
            new_root = min(mine, theirs)
            merged = groups.pop(mine) | groups.pop(theirs)
            groups[new_root] = merged
            for o in merged:
                canon[o] = None if o == new_root else new_root
            later = oid if oid != new_root else other
            reasons[later] = [f"same procurement as {_ocid_of(feats, new_root)}", *why]
    writes = []
    for o, c in canon.items():
        if c == before.get(o):
            continue
        why = reasons.get(o) or ([f"same procurement as {_ocid_of(feats, c)}"] if c else [])
        if o in new_ids:
            assert c is not None  # (a new row's link before: none)
            result.links[o] = (c, why)
        else:
            writes.append({"id": o, "canonical_id": c, "duplicate_reasons": why})
    update_rows(session, Opportunity, writes)
    result.linked = sum(1 for o in batch_ids if canon[o] is not None)
    return result


def _ocid_of(feats: Mapping[int, dedupe.Features], oid: int) -> str:
    return feats[oid].ocid if oid in feats else f"opportunity {oid}"


def _members(session: Session, roots: Collection[int]) -> dict[int, set[int]]:
    """The stored rows that point at each of these rows (its other listings)."""
    out: dict[int, set[int]] = defaultdict(set)
    for root, oid in select_plain_in(
        session, Opportunity, ("canonical_id", "id"), "canonical_id", sorted(roots)
    ):
        out[root].add(oid)
    return out


def _load(
    session: Session, ids: Iterable[int], compared: Collection[int] | None = None
) -> dict[int, tuple[dedupe.Features | None, int | None]]:
    """Stored opportunities by id: their dedupe features (with what ``opportunityref``
    keeps of them: published ids, the buyer's reference, suppliers), for the ``compared``
    ones only (default: all; None for the others), and their links."""
    db = _db(session)
    table = Opportunity.__table__  # type: ignore[attr-defined]
    ordered = sorted(ids)
    refs: dict[int, list[str]] = defaultdict(list)
    carried: dict[int, dict[str, Any]] = defaultdict(dict)
    out: dict[int, tuple[dedupe.Features | None, int | None]] = {}
    for part in _chunks(ordered):
        # rows whose features are remembered (by content hash) need nothing more read
        missing = []
        for oid, digest, canonical in select_plain_in(
            session, Opportunity, ("id", "content_hash", "canonical_id"), "id", part
        ):
            if compared is not None and oid not in compared:
                out[oid] = (None, canonical)
                continue
            hit = _features.get((db, oid))
            if hit is not None and hit[0] == digest:
                out[oid] = (hit[1], canonical)
            else:
                missing.append(oid)
        if not missing:
            continue
        for oid, key in select_plain_in(
            session, OpportunityRef, ("opportunity_id", "value"), "opportunity_id", missing
        ):
            if key.startswith("i:"):
                refs[oid].append(key[2:])  # "i:<published identifier>"
            elif key.startswith("tref:"):
                carried[oid]["tender_reference"] = key[5:]
            else:
                carried[oid].setdefault("suppliers", []).append(key[4:])
        cols = [table.c[c] for c in COLUMNS]
        for row in session.execute(select(*cols).where(table.c.id.in_(missing))).mappings():
            rec = dict(row)
            rec["references"] = refs.get(rec["id"], [])
            rec.update(carried.get(rec["id"], {}))
            f = dedupe.features(rec)
            _remember((db, rec["id"]), rec["content_hash"], f)
            out[rec["id"]] = (f, rec["canonical_id"])
    return out


def listings_of(session: Session, canonical_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The other listings of these canonical opportunities: ocid, sources, url, reasons."""
    table = Opportunity.__table__  # type: ignore[attr-defined]
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for part in _chunks(sorted(canonical_ids)):
        q = (
            select(
                table.c.canonical_id,
                table.c.ocid,
                table.c.sources,
                table.c.url,
                table.c.duplicate_reasons,
            )
            .where(table.c.canonical_id.in_(part))
            .order_by(table.c.id)
        )
        for cid, ocid, sources, url, why in session.execute(q):
            out[cid].append({"ocid": ocid, "sources": sources, "url": url, "reasons": why})
    return dict(out)


def count_listings(session: Session) -> tuple[int, int]:
    """(opportunities, of which other listings)."""
    table = Opportunity.__table__  # type: ignore[attr-defined]
    total = session.execute(select(func.count()).select_from(table)).scalar_one()
    dups = session.execute(
        select(func.count()).select_from(table).where(table.c.canonical_id.is_not(None))
    ).scalar_one()
    return int(total), int(dups)
