"""Read side: listing opportunities, and their public JSON shape."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Float, Integer, and_, exists, func, literal, literal_column, or_, text, true
from sqlmodel import Session, col, select

from models.classify.areas import NUTS1
from models.classify.bands import (
    BANDS,
    LOCAL_PUBLICATION_THRESHOLD,
    MICRO_VALUE,
    SUB_CENTRAL_THRESHOLD,
    value_words,
)
from models.classify.fit import EARLY_STAGES
from models.classify.kent_postcodes import DISTRICT_AREA, DISTRICTS, KENT, KENT_CODE
from models.store.db import get_engine, session_scope
from models.store.listings import count_listings, listings_of
from models.store.tables import Opportunity
from models.subscribers.criteria import (
    MAX_PHRASE_WORDS,
    STAGES,
    Criteria,
    Stage,
    Suitability,
    normalise_region,
    normalise_sector,
    parse_area,
    read_criteria,
)

_WORDS = re.compile(r"[^\W_]+", re.UNICODE)


def list_opportunities(limit: int = 1000) -> list[Opportunity]:
    """Newest first, one per real procurement: other listings of one are left out (they
    are in ``listings_for``)."""
    with session_scope(get_engine()) as s:
        return list(
            s.exec(
                select(Opportunity)
                .where(col(Opportunity.canonical_id).is_(None))
                .order_by(col(Opportunity.published_at).desc(), col(Opportunity.id))
                .limit(limit)
            ).all()
        )


def count_listings_stored() -> tuple[int, int]:
    """(opportunities stored, of which other listings of one procurement)."""
    with session_scope(get_engine()) as s:
        return count_listings(s)


def listings_for(opps: list[Opportunity]) -> dict[int, list[dict[str, Any]]]:
    """The other listings (ocid, sources, url, reasons) of these canonical opportunities."""
    with session_scope(get_engine()) as s:
        return listings_of(s, [o.id for o in opps if o.id is not None])


def opportunity_json(
    o: Opportunity, listings: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The stable JSON shape (deadline as ISO 8601 with the UK offset). ``listings``: the
    same procurement as published elsewhere (this one's own listing first).

    ``value``: the estimate (without VAT when the source gave both; the top of a range);
    ``value_min``: the lowest estimate, when a range or only a minimum was published;
    ``value_max``: the top of a published range (null for a single figure or a minimum
    alone); ``value_text``: the value as an alert says it ("from £40,676")."""
    from bidbell.clock import to_uk

    def iso(dt: Any) -> str | None:
        return to_uk(dt).isoformat() if dt is not None else None

    value = o.value_amount if o.value_amount is not None else o.value_amount_gross
    return {
        "ocid": o.ocid,
        "title": o.title,
        "buyer": o.buyer_name,
        "buyer_id": o.buyer_id,
        "value": value,
        "value_gross": o.value_amount_gross,
        "value_min": o.value_min,
        "value_max": value if o.value_min is not None and value is not None else None,
        "value_text": value_words(
            o.value_amount, o.value_currency, gross=o.value_amount_gross, minimum=o.value_min
        ),
        "currency": o.value_currency,
        "deadline": iso(o.deadline),
        "published": iso(o.published_at),
        "cpv_codes": o.cpv_codes,
        "regions": o.regions,
        "stage": o.stage,
        "notice_type": o.notice_type,
        "value_band": o.value_band,
        "lot_band": o.lot_band,
        "band_basis": o.band_basis,
        "sectors": o.sectors,
        "sector_basis": o.sector_basis,
        "areas": o.areas,
        "work_in_kent": o.work_in_kent,
        "buyer_in_kent": o.buyer_in_kent,
        "buyer_area": o.buyer_area,
        "sme_suitable": o.sme_suitable,
        "vcse_suitable": o.vcse_suitable,
        "is_subcontract": o.is_subcontract,
        "parent_reference": o.parent_reference,
        "fit_score": o.fit_score,
        "fit_reasons": o.fit_reasons,
        "sources": sorted({*o.sources, *(x for li in listings or [] for x in li["sources"])}),
        "url": o.url,
        "listings": [{"ocid": o.ocid, "sources": o.sources, "url": o.url}]
        + [{k: li[k] for k in ("ocid", "sources", "url")} for li in listings or []],
        "version": o.version,
    }


# --- search ------------------------------------------------------------------------------
# The one search behind the web browse page, its feeds and `bidbell opportunities`. Filters
# that a saved search (a profile) also has are read by the same normalisers as
# models.subscribers.criteria and mean what matching.rules says they mean (stage, area,
# suitable for); Search.to_criteria() turns a search into a profile's criteria ("alert me
# about this search"). Full text is SQLite FTS5 or a PostgreSQL tsvector (migration 0010),
# English stems on both, behind this one interface.

SortKey = Literal["relevance", "closing", "newest"]
BandKey = Literal[
    "under_10k", "below_publication", "below_threshold", "above_threshold", "not_stated"
]
SORTS: dict[str, str] = {
    "relevance": "best match",
    "closing": "closing soonest",
    "newest": "newest first",
}
OPEN_STAGES = (*sorted(EARLY_STAGES), "tender")  # open to bids while the deadline has not passed
MAX_QUERY = 200
_SOURCE = re.compile(r"^[a-z0-9_]{1,64}$")
_TERMS = re.compile(r'(-?)"([^"]*)"?|(\S+)')
# Values a person can pick for "area": Kent and Medway, its districts, the UK's regions.
AREA_CHOICES: tuple[tuple[str, str], ...] = (
    (KENT_CODE, "Kent and Medway"),
    *((d, d) for d in DISTRICTS),
    *((code, name) for code, name in NUTS1.items()),
)
# "Alert me about this search": a size band as the value range alerts understand. The bands
# hang on the threshold for each contract's type; these are the bounds for a council's
# goods and services (sub-central), said as an approximation where they are offered.
BAND_RANGE: dict[str, tuple[float | None, float | None]] = {
    "under_10k": (None, MICRO_VALUE),
    "below_publication": (MICRO_VALUE, LOCAL_PUBLICATION_THRESHOLD),
    "below_threshold": (LOCAL_PUBLICATION_THRESHOLD, SUB_CENTRAL_THRESHOLD),
    "above_threshold": (SUB_CENTRAL_THRESHOLD, None),
}


def _search_area(text: str) -> str:
    area = parse_area(text)
    if area.postcode is not None:
        raise ValueError(
            f"{text!r}: a distance from a postcode is for alerts only; search by a Kent "
            "district or a NUTS/ITL region"
        )
    return str(area)


class Search(BaseModel):
    """A search of the stored opportunities (one per procurement: other listings of one
    are shown on its page). Every filter is optional; lists mean "any of these"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: str = Field(default="", max_length=MAX_QUERY)
    sectors: list[str] = Field(default_factory=list)
    areas: list[str] = Field(default_factory=list)  # Kent districts, NUTS/ITL codes
    bands: list[BandKey] = Field(default_factory=list)
    stages: list[Stage] = Field(default_factory=list)
    suitable_for: list[Suitability] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    subcontract_only: bool = False
    open_only: bool = False
    closing_within: int | None = Field(default=None, ge=1, le=365)
    sort: SortKey | None = None
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=20, ge=1, le=10_000)

    @field_validator(
        "sectors", "areas", "bands", "stages", "suitable_for", "sources", mode="before"
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(";") if v.strip()]
        if isinstance(value, list | tuple):
            return [v.strip() if isinstance(v, str) else v for v in value if v != ""]
        return value

    @field_validator("q")
    @classmethod
    def _q(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("sectors")
    @classmethod
    def _sectors(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(normalise_sector(v) for v in value))

    @field_validator("areas")
    @classmethod
    def _areas(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_search_area(v) for v in value))

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        for v in value:
            if not _SOURCE.match(v):
                raise ValueError(f"{v!r} is not a source name (bidbell sources lists them)")
        return list(dict.fromkeys(value))

    @field_validator("bands", "stages", "suitable_for")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @property
    def effective_sort(self) -> str:
        if self.sort == "relevance" and not self.q:
            return "closing" if self.open_only else "newest"
        if self.sort:
            return self.sort
        if self.q:
            return "relevance"
        return "closing" if self.open_only else "newest"

    def districts(self) -> list[str]:
        return [a for a in self.areas if a in DISTRICT_AREA]

    def regions(self) -> list[str]:
        return [a for a in self.areas if a not in DISTRICT_AREA]

    def params(self, *, page: int | None = None, **changes: Any) -> list[tuple[str, str]]:
        """The search as query-string pairs, in a fixed order (stable feed URLs); defaults
        left out. ``changes`` replace fields first (another page, another sort)."""
        s = self.model_copy(update=changes) if changes else self
        out: list[tuple[str, str]] = []
        if s.q:
            out.append(("q", s.q))
        for key in ("sectors", "areas", "bands", "stages", "suitable_for", "sources"):
            out.extend((key, v) for v in getattr(s, key))
        if s.subcontract_only:
            out.append(("subcontract_only", "1"))
        out.append(("status", "open" if s.open_only else "all"))
        if s.closing_within is not None:
            out.append(("closing_within", str(s.closing_within)))
        if s.sort:
            out.append(("sort", s.sort))
        if (page or s.page) > 1:
            out.append(("page", str(page or s.page)))
        return out

    def to_criteria(self) -> tuple[Criteria, list[str]]:
        """The saved search this search becomes ("alert me about this search"), and notes
        on what does not carry over as it is."""
        notes: list[str] = []
        data: dict[str, Any] = {
            "sectors": self.sectors,
            "districts": self.districts(),
            "regions": [normalise_region(r) for r in self.regions()],
            "suitable_for": self.suitable_for,
        }
        query = parse_text_query(self.q)
        keywords = [t for group in query.groups for t in group]
        long = [t for t in keywords if len(t.split()) > MAX_PHRASE_WORDS]
        if long:
            keywords = [t for t in keywords if t not in long]
            notes.append(
                f"keywords: an alert's phrase has at most {MAX_PHRASE_WORDS} words; "
                f"{', '.join(repr(t) for t in long)} left out"
            )
        if keywords:
            data["keywords"] = keywords[:20]
            kept = [g for g in query.groups if any(t in keywords for t in g)]
            if len(kept) > 1:
                notes.append(
                    "keywords: an alert fires on any one of its keywords or phrases (the "
                    "search wanted all of them)"
                )
        exclude = [t for t in query.exclude if len(t.split()) <= MAX_PHRASE_WORDS]
        if exclude:
            data["exclude_keywords"] = exclude[:20]
        stages: list[str] = list(self.stages)
        if self.subcontract_only:
            stages = ["subcontract"]
        if stages:
            data["stages"] = stages
        if self.bands:
            small = [BAND_RANGE[b] for b in self.bands if b in BAND_RANGE]
            if small:
                lows = [lo for lo, _ in small]
                highs = [hi for _, hi in small]
                data["min_value"] = None if None in lows else min(x for x in lows if x is not None)
                data["max_value"] = (
                    None if None in highs else max(x for x in highs if x is not None)
                )
                notes.append(
                    "size: alerts use a value range; the size bands became "
                    f"{_range_words(data['min_value'], data['max_value'])} (a council's "
                    "goods and services thresholds; change it if you need)"
                )
                data["value_not_stated"] = "not_stated" in self.bands
            else:
                notes.append(
                    "size: alerts cannot be kept to notices that state no value; they "
                    "include every value (set a range if you need)"
                )
        if self.closing_within is not None:
            notes.append("closing within: alerts tell you about new opportunities as they come")
        if self.sources:
            notes.append("source: alerts come from every source")
        return read_criteria(data), notes


def _range_words(lo: float | None, hi: float | None) -> str:
    if lo is None and hi is None:
        return "any value"
    if lo is None:
        return f"up to £{hi:,.0f}"
    if hi is None:
        return f"£{lo:,.0f} or more"
    return f"£{lo:,.0f} to £{hi:,.0f}"


@dataclass(frozen=True)
class TextQuery:
    """Keywords as a person types them: words (all of them), "a phrase", ``a OR b``,
    ``-word`` to leave out. Each term is its words (letters and digits) joined by spaces."""

    groups: tuple[tuple[str, ...], ...] = ()  # AND of OR-groups of terms
    exclude: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.groups or self.exclude)


def parse_text_query(text: str) -> TextQuery:
    groups: list[list[str]] = []
    exclude: list[str] = []
    join_next = False
    for m in _TERMS.finditer(text[:MAX_QUERY]):
        negative = bool(m.group(1))
        raw = m.group(2) if m.group(2) is not None else m.group(3)
        if m.group(3) is not None and raw == "OR":
            join_next = bool(groups)
            continue
        if m.group(3) is not None and raw.startswith("-") and len(raw) > 1:
            negative, raw = True, raw[1:]
        words = _WORDS.findall(raw.lower())
        if not words:
            continue
        term = " ".join(words)
        if negative:
            exclude.append(term)
        elif join_next and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    return TextQuery(tuple(tuple(dict.fromkeys(g)) for g in groups), tuple(dict.fromkeys(exclude)))


def _fts5(terms: Sequence[str]) -> str:
    return " OR ".join(f'"{t}"' for t in terms)


@dataclass
class SearchPage:
    items: list[Opportunity]
    total: int
    page: int
    per_page: int
    facets: dict[str, list[tuple[str, int]]] = dc_field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


_T = Opportunity.__table__  # type: ignore[attr-defined]


def _elements(dialect: str, column: Any) -> Any:
    """The items of a JSON list column as a table with one column, ``value``."""
    if dialect == "postgresql":
        return func.jsonb_array_elements_text(column).table_valued("value")
    return func.json_each(column).table_valued("value")


def _json_len(dialect: str, column: Any) -> Any:
    if dialect == "postgresql":
        return func.jsonb_array_length(column)
    return func.json_array_length(column)


def _any_of(dialect: str, column: Any, values: Sequence[str]) -> Any:
    el = _elements(dialect, column)
    return exists(select(literal(1)).select_from(el).where(el.c.value.in_(list(values))))


def _region_codes(code: str, shortest: int) -> list[str]:
    """A NUTS code's prefixes from ``shortest`` characters, as UK and as ITL (TL) codes."""
    prefixes = [code[:k] for k in range(shortest, len(code) + 1)]
    return prefixes + ["TL" + p[2:] for p in prefixes]


def _place(dialect: str, test: Callable[[Any], Any]) -> Any:
    """A region of the work passes ``test`` (the buyer's region when no work region)."""
    el = _elements(dialect, _T.c.regions)
    listed = exists(select(literal(1)).select_from(el).where(test(el.c.value)))
    fallback = and_(_json_len(dialect, _T.c.regions) == 0, test(_T.c.buyer_region))
    return or_(listed, fallback)


def _no_place(dialect: str) -> Any:
    return and_(
        _json_len(dialect, _T.c.regions) == 0,
        or_(_T.c.buyer_region.is_(None), _T.c.buyer_region == ""),
        _T.c.buyer_area.is_(None),
        or_(_T.c.buyer_postcode.is_(None), _T.c.buyer_postcode == ""),
    )


def area_clause(dialect: str, area: str) -> Any:
    """matching.rules.area_ok for one district or region (without the no-place rule):
    a region matches a work region that contains it or that it contains; a district
    matches its buyers, Kent County Council, and work regions of NUTS2 level or finer
    that contain it."""
    if area in DISTRICT_AREA:
        code = DISTRICT_AREA[area]
        local = _region_codes(code, 4)
        return or_(
            _T.c.buyer_area == area,
            _T.c.buyer_area == KENT,
            _place(dialect, lambda v: v.in_(local)),
        )
    code = normalise_region(area)
    containing = _region_codes(code, 2)
    return _place(
        dialect,
        lambda v: or_(v.in_(containing), v.like(code + "%"), v.like("TL" + code[2:] + "%")),
    )


def _not_subcontract() -> Any:
    return or_(_T.c.is_subcontract.is_(None), _T.c.is_subcontract.is_(False))


def stage_clause(stage: str) -> Any:
    """matching.rules.category as SQL: early notice, tender, subcontract or award."""
    early = sorted(EARLY_STAGES)
    if stage == "early":
        return and_(_T.c.stage.in_(early), _not_subcontract())
    if stage == "tender":
        return and_(_T.c.stage == "tender", _not_subcontract())
    if stage == "subcontract":
        return and_(_T.c.stage.in_([*early, "tender"]), _T.c.is_subcontract.is_(True))
    return _T.c.stage == "award"


def suitable_clause(kind: str) -> Any:
    return (_T.c.sme_suitable if kind == "sme" else _T.c.vcse_suitable).is_(True)


def open_clause(now: datetime) -> Any:
    return and_(_T.c.stage.in_(OPEN_STAGES), or_(_T.c.deadline.is_(None), _T.c.deadline > now))


class _Text:
    """The full-text part of a search, per database."""

    def __init__(self, dialect: str, query: TextQuery) -> None:
        self.dialect, self.query = dialect, query
        self.ranked: Any = None  # SQLite: (id, rank) of the matching rows
        if dialect == "sqlite" and query.groups:
            match = " AND ".join(f"({_fts5(g)})" for g in query.groups)
            for term in query.exclude:
                match = f'({match}) NOT "{term}"'
            self.ranked = (
                text(
                    "SELECT rowid AS id, bm25(opportunity_fts, 10.0, 4.0, 1.0) AS rank "
                    "FROM opportunity_fts WHERE opportunity_fts MATCH :fts_match"
                )
                .bindparams(fts_match=match)
                .columns(id=Integer, rank=Float)
                .subquery("fts")
            )

    def _tsquery(self) -> Any:
        """The query as a tsquery, from PostgreSQL's functions behind &&, || and !!."""

        def term(t: str) -> Any:
            return func.phraseto_tsquery("english", t)

        q: Any = None
        for group in self.query.groups:
            either = term(group[0])
            for t in group[1:]:
                either = func.tsquery_or(either, term(t))
            q = either if q is None else func.tsquery_and(q, either)
        for t in self.query.exclude:
            q = (
                func.tsquery_not(term(t))
                if q is None
                else func.tsquery_and(q, func.tsquery_not(term(t)))
            )
        return q

    def clauses(self) -> list[Any]:
        if not self.query:
            return []
        if self.dialect == "postgresql":
            return [literal_column("opportunity.search_vector").op("@@")(self._tsquery())]
        out: list[Any] = []
        if self.ranked is not None:
            out.append(_T.c.id.in_(select(self.ranked.c.id)))
        elif self.query.exclude:
            match = _fts5(self.query.exclude)
            out.append(
                _T.c.id.not_in(
                    text("SELECT rowid FROM opportunity_fts WHERE opportunity_fts MATCH :fx")
                    .bindparams(fx=match)
                    .columns(rowid=Integer)
                )
            )
        return out

    def rank(self) -> Any:
        """An expression to order by, best first (None: no text to rank by)."""
        if not self.query.groups:
            return None
        if self.dialect == "postgresql":
            vector: Any = literal_column("opportunity.search_vector")
            return func.ts_rank_cd(vector, self._tsquery()).desc()
        return select(self.ranked.c.rank).where(self.ranked.c.id == _T.c.id).scalar_subquery().asc()


def search_clauses(search: Search, dialect: str, now: datetime) -> dict[str, list[Any]]:
    """The WHERE clauses of a search, by the filter they come from (facet counts leave out
    their own filter)."""
    text_part = _Text(dialect, parse_text_query(search.q))
    out: dict[str, list[Any]] = {"canonical": [_T.c.canonical_id.is_(None)]}
    out["q"] = text_part.clauses()
    if search.sectors:
        out["sectors"] = [_any_of(dialect, _T.c.sectors, search.sectors)]
    if search.areas:
        out["areas"] = [or_(*(area_clause(dialect, a) for a in search.areas), _no_place(dialect))]
    if search.bands:
        out["bands"] = [_T.c.value_band.in_(search.bands)]
    if search.stages:
        out["stages"] = [or_(*(stage_clause(s) for s in search.stages))]
    if search.suitable_for:
        out["suitable_for"] = [or_(*(suitable_clause(k) for k in search.suitable_for))]
    if search.sources:
        out["sources"] = [_any_of(dialect, _T.c.sources, search.sources)]
    if search.subcontract_only:
        out["subcontract_only"] = [_T.c.is_subcontract.is_(True)]
    if search.open_only:
        out["open_only"] = [open_clause(now)]
    if search.closing_within is not None:
        out["closing_within"] = [
            _T.c.deadline > now,
            _T.c.deadline <= now + timedelta(days=search.closing_within),
        ]
    return out


def _where(clauses: dict[str, list[Any]], leave_out: str | None = None) -> list[Any]:
    return [c for key, cs in clauses.items() if key != leave_out for c in cs]


def _facets(
    session: Session, dialect: str, clauses: dict[str, list[Any]]
) -> dict[str, list[tuple[str, int]]]:
    """Counts per value of each filter, under every other filter of the search."""
    facets: dict[str, list[tuple[str, int]]] = {}
    for key, column in (("sectors", _T.c.sectors), ("sources", _T.c.sources)):
        el = _elements(dialect, column)
        q = (
            select(el.c.value, func.count())
            .select_from(_T)
            .join(el, true())
            .where(*_where(clauses, key))
            .group_by(el.c.value)
        )
        facets[key] = sorted(((str(v), int(n)) for v, n in session.execute(q)), key=_by_count)
    q = (
        select(_T.c.value_band, func.count())
        .where(*_where(clauses, "bands"))
        .group_by(_T.c.value_band)
    )
    bands = {str(v): int(n) for v, n in session.execute(q)}
    facets["bands"] = [(b, bands.get(b, 0)) for b, _ in BANDS]
    for key, values, clause in (
        ("stages", list(STAGES), stage_clause),
        ("suitable_for", ["sme", "vcse"], suitable_clause),
        ("areas", [a for a, _ in AREA_CHOICES], lambda a: area_clause(dialect, a)),
    ):
        counts = session.execute(
            select(*(func.count().filter(clause(v)) for v in values)).where(*_where(clauses, key))
        ).one()
        facets[key] = [(v, int(n)) for v, n in zip(values, counts, strict=True)]
    facets["subcontract_only"] = [
        (
            "1",
            int(
                session.execute(
                    select(func.count()).where(
                        *_where(clauses, "subcontract_only"), _T.c.is_subcontract.is_(True)
                    )
                ).scalar_one()
            ),
        )
    ]
    return facets


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def search_opportunities(
    session: Session, search: Search, now: datetime, *, facets: bool = False
) -> SearchPage:
    """One page of the opportunities a search finds, how many in all, and (``facets``) the
    counts per filter value. The same on SQLite and PostgreSQL."""
    dialect = session.get_bind().dialect.name
    text_part = _Text(dialect, parse_text_query(search.q))
    clauses = search_clauses(search, dialect, now)
    where = _where(clauses)
    total = int(session.execute(select(func.count()).select_from(_T).where(*where)).scalar_one())
    order: list[Any] = []
    sort = search.effective_sort
    rank = text_part.rank() if sort == "relevance" else None
    if rank is not None:
        order.append(rank)
    if sort in ("closing", "relevance"):
        order += [_T.c.deadline.is_(None), _T.c.deadline.asc()]
    order += [_T.c.published_at.is_(None), _T.c.published_at.desc(), _T.c.id.desc()]
    q = (
        select(Opportunity)
        .where(*where)
        .order_by(*order)
        .limit(search.per_page)
        .offset((search.page - 1) * search.per_page)
    )
    items = list(session.exec(q).all())
    page = SearchPage(items=items, total=total, page=search.page, per_page=search.per_page)
    if facets:
        page.facets = _facets(session, dialect, clauses)
    return page
