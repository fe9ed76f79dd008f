"""Deduplication: one procurement published on several portals -> one opportunity.

Pure functions, no I/O. Records are NoticeFields or anything with the same attribute names
(objects or mappings): ``ocid``, ``source_id``, ``title``, ``description``, ``buyer_name``,
``buyer_id``, ``value_amount`` (a number, or money as text such as "£50k"),
``value_amount_gross``, ``value_min``, ``deadline`` and ``published_at`` (aware datetimes or
ISO text), ``url``, and optionally ``references`` (identifiers the source publishes:
Contracts Finder's "Notice Identifier", a portal's advert id), ``tender_reference`` (the
buyer's own reference, OCDS ``tender.id``) and ``suppliers`` (the names an award notice
gives).

Order of evidence (``same_procurement``):

1. Exact keys. The same OCID is the same procurement (OCDS identity; never overruled).
   The same published identifier (a source id, an explicit reference, a portal advert id
   in the URL) on both records is too, unless a hard conflict below says otherwise (a
   project-level reference is shared by sibling lots: Highways England's
   ``tender_205996/...`` is both Free-Flow Charging Package A and Package B).
2. Hard conflicts, which keep records apart whatever else agrees: award notices naming
   different suppliers (a framework's call-off awards agree on everything else), different
   buyer references from one publisher (OCID prefix), different lot / package /
   phase numbers, different call-off or mini-competition numbers, other small numbers
   that differ ("Technology Services 3" / "4"), different years in the titles (a yearly
   re-tender), references of one series that differ (``P291`` / ``P292``), deadlines two
   months or more apart, or first publications ten months or more apart.
3. Fuzzy comparison of title (soft token Jaccard: abbreviations by prefix, plurals,
   typos; word order ignored; a truncated title matches its full form), buyer (token
   overlap, or the same buyer id), deadline (± a day covers time-zone representations;
   an extension of up to 15 days still counts, more does not), value (net or gross,
   rounding of "£54k") and the opening words of the descriptions; a reference in both
   titles ("DM/00157"), or the same buyer reference, adds to it. Words are compared with
   rapidfuzz (typos: an Indel ratio of 88 or more; supplier names: token-set ratio 90).
   Titles that each name things the other does not ("Catering" / "Cleaning", "Diesel
   Fuelled Fleet" / "Zero Emission Fleet") are different procurements. Buyer names that
   do not match at all (a portal names itself: "capitalEsourcing") are let pass only when
   a specific title agrees and the closing day or the description does too.

``cluster`` blocks candidates (OCID, identifiers, buyer tokens x deadline day ± 1 or
published week, rare title tokens x deadline day), merges by exact keys first and then by
fuzzy matches in order of score, and never merges two groups holding a hard conflict
(complete linkage on conflicts), so "Lot 1" and "Lot 2" cannot join through a third notice.
"""

from __future__ import annotations

from models.dedupe.blocking import (
    BLOCK_CAP,
    blocking_keys,
    candidate_pairs,
    listing_key_sets,
    listing_keys,
)
from models.dedupe.cluster import cluster
from models.dedupe.compare import (
    DEADLINE_APART_DAYS,
    DEADLINE_MOVED_DAYS,
    MIN_TITLE,
    PUBLISHED_APART_DAYS,
    SAME_SCORE,
    WEIGHTS,
    SameProcurement,
    conflicts,
    exact_key,
    has_conflict,
    same_procurement,
)
from models.dedupe.features import Features, features
from models.dedupe.text import TitleParts, buyer_tokens, title_parts

__all__ = [
    "BLOCK_CAP", "DEADLINE_APART_DAYS", "DEADLINE_MOVED_DAYS", "MIN_TITLE",
    "PUBLISHED_APART_DAYS", "SAME_SCORE", "WEIGHTS", "Features", "SameProcurement",
    "TitleParts", "blocking_keys", "buyer_tokens", "candidate_pairs", "cluster", "conflicts",
    "exact_key", "features", "has_conflict", "listing_key_sets", "listing_keys",
    "same_procurement", "title_parts",
]  # fmt: skip
