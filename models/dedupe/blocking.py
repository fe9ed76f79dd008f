"""Blocking keys: where to look for other listings of a record (buyer word x closing
day, rare title word x day or week, identifiers), in memory and in the store."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache

from bidbell.clock import UK
from models.dedupe.features import Features

BLOCK_CAP = 300  # a blocking key shared by more records than this is not used

# --- clustering ----------------------------------------------------------------------------


_WEEK_STEPS = (timedelta(days=-7), timedelta(0), timedelta(days=7))


def _day_keys(day: date | None, spread: int) -> list[str]:
    """The UK day (of the deadline) and ``spread`` days either side."""
    if day is None:
        return []
    return [(day + timedelta(days=d)).isoformat() for d in range(-spread, spread + 1)]


def _week_keys(day: date | None) -> list[str]:
    """The ISO weeks of the week before the UK day (of publication), its own and the next.
    A day's date is taken once by the caller: one time-zone conversion per record, not one
    per key (and shifting the local day is shifting the local time's day)."""
    if day is None:
        return []
    out = []
    for step in _WEEK_STEPS:
        y, w, _ = (day + step).isocalendar()
        out.append(f"{y}-W{w:02d}")
    return out


def _tails(closing: date | None, published: date | None, spread: bool) -> tuple[str, ...]:
    """The day and week parts of the keys ("|d:2026-03-14", "|w:2026-W11") of a record
    closing and published on these UK days (cached by ``_tail_sets``)."""
    weeks = _week_keys(published)
    if spread:
        days = _day_keys(closing, 1)
    else:
        days, weeks = _day_keys(closing, 0), weeks[1:2]
    return tuple([f"|d:{d}" for d in days] + [f"|w:{w}" for w in weeks])


def blocking_keys(f: Features, rare_title_words: Sequence[str] = ()) -> set[str]:
    """Keys to block on in memory (``cluster``): the spread keys of ``listing_keys`` and
    the OCID."""
    keys = listing_keys(f, rare_title_words, spread=True)
    return keys | {f"o:{f.ocid}"} if f.ocid else keys


def listing_keys(
    f: Features, rare_title_words: Sequence[str] = (), spread: bool = True
) -> set[str]:
    """Blocking keys for a stored index: ``spread=False`` gives the keys to store (the
    closing day and publication week themselves), ``spread=True`` the keys to probe with
    (day +-1, week +-1), so that two records meet when their days or weeks are near.
    The OCID is left out: a stored opportunity is one per OCID already.

    A reference in the title is blocked with the year of publication (+-1 year when
    probing): records first published ten months or more apart are different procurements
    unless their deadlines agree, which the day keys find; without the year, a framework's
    reference would make every call-off of ten years a candidate of every other."""
    stored, probes = listing_key_sets(f, rare_title_words)
    return probes if spread else stored


@lru_cache(maxsize=1 << 12)
def _tail_sets(closing: date | None, published: date | None) -> tuple[tuple[str, ...], ...]:
    """The stored tails of a record (``_tails(..., False)``) and the probe tails that are
    not among them: the probe tails are the stored ones and their neighbours. Cached: a
    day's notices share them (the key is two days)."""
    stored = _tails(closing, published, False)
    return stored, tuple(t for t in _tails(closing, published, True) if t not in stored)


def listing_key_sets(
    f: Features, rare_title_words: Sequence[str] = ()
) -> tuple[set[str], set[str]]:
    """``listing_keys`` to store and to probe with, made together: the keys stored are
    some of the keys probed (the same words and ids, with the day, week and year
    themselves), so each is made once (a row's keys were a tenth of its parsing)."""
    stored = {f"i:{i}" for i in f.ids}
    published = None if f.published is None else f.published.astimezone(UK)
    if published is None:
        stored.update([f"r:{r}" for r in f.title.refs])
        probes = set(stored)
    else:
        year = published.year
        stored.update([f"r:{r}|y:{year}" for r in f.title.refs])
        probes = stored.union([f"r:{r}|y:{y}" for r in f.title.refs for y in (year - 1, year + 1)])
    tails, more = _tail_sets(
        None if f.deadline is None else f.deadline.astimezone(UK).date(),
        None if published is None else published.date(),
    )
    # Each buyer token and rare word with each day and week.
    heads = [f"b:{t}" for t in f.buyer]
    if f.buyer_id:
        heads.append(f"bid:{f.buyer_id}")
    if tails:
        heads.extend([f"t:{word}" for word in rare_title_words])
        mine = [h + tail for h in heads for tail in tails]
        stored.update(mine)
        probes.update(mine)
        probes.update([h + tail for h in heads for tail in more])
    else:
        stored.update(heads)
        probes.update(heads)
    return stored, probes


def candidate_pairs(feats: Sequence[Features]) -> set[tuple[int, int]]:
    """Index pairs worth comparing (sharing a blocking key)."""
    df: dict[str, int] = defaultdict(int)
    for f in feats:
        for w in set(f.title.tokens):
            df[w] += 1
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(feats):
        rare = sorted(set(f.title.tokens), key=lambda w: (df[w], -len(w), w))[:2]
        for k in blocking_keys(f, rare):
            blocks[k].append(i)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2 or len(members) > BLOCK_CAP:
            continue
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pairs.add((members[x], members[y]))
    return pairs
