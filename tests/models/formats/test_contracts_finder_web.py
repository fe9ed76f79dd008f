"""Contracts Finder's website search results: a `listing` source configured by selectors in
sources.toml only, importing the two real saved pages."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, func, select

from bidbell.settings import get_settings
from models.store.store import store_records
from models.store.tables import Notice
from spiders.config import load_sources
from spiders.files import read_file


def _records(fixtures_dir, name: str):
    cfg = load_sources(get_settings().sources_file)["contracts_finder_web"]
    path = fixtures_dir / "contracts-finder" / name
    return list(read_file(cfg.name, cfg.type, path, {**cfg.params, "base_url": cfg.base_url}))


def test_saved_results_pages_import_every_result(engine, fixtures_dir) -> None:
    full = _records(fixtures_dir, "cf_search_results_html_2021-08-28_get_default.html")
    empty = _records(fixtures_dir, "cf_search_results_html_2021-08-28_post_all_open_notices.html")
    assert [r.kind for r in full] == ["notice"] * 20  # the page holds 20 div.search-result
    assert empty == []  # "We've found 0 contracts": no rows, and no error
    with Session(engine) as s:
        r = store_records(s, [x.model_dump() for x in full], now=datetime.now(UTC))
        s.commit()
        assert (r.inserted, r.rejected) == (20, 0)
        assert s.exec(select(func.count()).select_from(Notice)).one() == 20


def test_result_fields(fixtures_dir) -> None:
    from models.formats import normalise

    recs = _records(fixtures_dir, "cf_search_results_html_2021-08-28_get_default.html")
    notices = {r.source_id: normalise(r.format, r.source, r.payload) for r in recs}
    scrub = notices["216602b8-6a82-4748-b46b-069551a8cbee"]  # the id is the notice GUID
    assert scrub.title == "GBC - Scrub Clearance Works at Pirbright"
    assert scrub.buyer_name == "Guildford Borough Council"
    assert scrub.description.startswith("Guildford Borough Council is seeking to appoint")
    # "17 September 2021, 12pm" UK time (BST)
    assert scrub.deadline == datetime(2021, 9, 17, 11, 0, tzinfo=UTC)
    assert scrub.value_amount is None  # "£0" on the page: not stated
    assert scrub.is_subcontract is False
    assert scrub.url == (
        "https://www.contractsfinder.service.gov.uk/notice/216602b8-6a82-4748-b46b-069551a8cbee"
    )
    hickleton = next(n for n in notices.values() if n.title.startswith("A635 Hickleton"))
    assert hickleton.value_amount == 300_000 and hickleton.buyer_name == "Doncaster MBC"
