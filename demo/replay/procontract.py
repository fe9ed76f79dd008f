"""A ProContract (Proactis) portal, replayed from CONSTRUCTED pages.

No capture of ProContract pages exists (../shared/fixtures/SOURCES.md), so the files in
``constructed/procontract/`` were built by hand on the layout that independent scrapers of
the live site agree on (DESIGN.md "Sources"); each says so at its top, and every
opportunity in them is invented. This site serves them the way those scrapers describe the
portal answering:

- ``GET /Opportunities/Index?Page=N[&p=<portal GUID>]``: ``opportunities_page_N.html`` for
  the Kent Business Portal's GUID (or no ``p``); a page past the last one, or another
  portal, is the empty grid ("There is no data available."). ``changed_layout=True`` serves
  page 1 as it would look after a redesign (no ``#opportunitiesGrid``).
- ``GET /Advert?advertId=<GUID>``: ``advert_<GUID>.html``, or a 404 page.
"""

from __future__ import annotations

from pathlib import Path

from demo.replay import FixturesMissing, ReplayServer, Reply

CONSTRUCTED_DIR = Path(__file__).resolve().parent.parent / "constructed" / "procontract"
# The p= GUID the constructed listing belongs to: the one real Kent County Council adverts
# carried in Contracts Finder data (2020), as sources.toml configures kent_business_portal.
KENT_PORTAL = "8691483f-2f3d-e711-80e1-005056b64545"
HTML = "text/html; charset=utf-8"
NOT_FOUND = b"<!DOCTYPE html><html><body><h1>Page not found</h1></body></html>"


class ProContractSite:
    """The listing and advert pages of one ProContract portal."""

    def __init__(self, folder: Path = CONSTRUCTED_DIR, changed_layout: bool = False) -> None:
        if not (folder / "opportunities_page_1.html").is_file():
            raise FixturesMissing(f"no constructed ProContract pages in {folder}")
        self.folder = folder
        self.changed_layout = changed_layout

    def _file(self, name: str) -> bytes | None:
        path = self.folder / name
        return path.read_bytes() if path.is_file() else None

    def handle(
        self, server: ReplayServer, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Reply:
        if path == "/Opportunities/Index":
            page = int(query.get("Page", "1"))
            if page < 1:
                raise ValueError(f"bad page {page}")
            body = None
            if query.get("p", KENT_PORTAL).lower() == KENT_PORTAL:
                name = f"opportunities_page_{page}.html"
                if page == 1 and self.changed_layout:
                    name = "opportunities_changed_layout.html"
                body = self._file(name)
            return Reply(200, body or self._file("opportunities_empty.html") or b"", {}, HTML)
        if path == "/Advert":
            advert_id = query.get("advertId", "").lower()
            body = self._file(f"advert_{advert_id}.html") if advert_id.isascii() else None
            return Reply(200, body, {}, HTML) if body else Reply(404, NOT_FOUND, {}, HTML)
        return Reply(404, NOT_FOUND, {}, HTML)
