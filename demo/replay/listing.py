"""A prime contractor's "supply chain opportunities" page, replayed from CONSTRUCTED
fixtures (demo/constructed/listing/: a fictional prime on a fictional Kent highways
scheme; no real capture of such a page exists).

``GET /supply-chain/`` is page 1, ``/supply-chain/?page=2`` page 2 (the last). Set
``layout = "changed"`` to serve the redesigned page instead (no table, no rows), as a
prime's site does after a redesign.
"""

from __future__ import annotations

from pathlib import Path

from demo.replay import ReplayServer, Reply

FOLDER = Path(__file__).resolve().parent.parent / "constructed" / "listing"
LISTING_PATH = "/supply-chain/"
PAGES = {"1": "supply_chain_page1.html", "2": "supply_chain_page2.html"}
CHANGED = "supply_chain_changed_layout.html"
HTML = "text/html; charset=utf-8"


class ListingSite:
    def __init__(self, layout: str = "original") -> None:
        self.layout = layout

    def handle(
        self, server: ReplayServer, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Reply:
        if path not in (LISTING_PATH, LISTING_PATH.rstrip("/")):
            return Reply(404, b"<h1>Not found</h1>", content_type=HTML)
        if self.layout == "changed":
            return Reply(200, (FOLDER / CHANGED).read_bytes(), content_type=HTML)
        name = PAGES.get(query.get("page", "1"))
        if name is None:
            return Reply(404, b"<h1>No such page</h1>", content_type=HTML)
        return Reply(200, (FOLDER / name).read_bytes(), content_type=HTML)
