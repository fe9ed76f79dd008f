"""ProContract (Proactis) portals: the Kent Business Portal and the councils that use it.

No capture of the live pages exists; the layout below is the one that independent scrapers
written against the live site (2019-2026) agree on (../shared/DESIGN.md "Sources";
../shared/fixtures/SOURCES.md): the listing ``/Opportunities/Index?Page=N`` (one portal's
with ``p=<portal GUID>``), a grid ``table#opportunitiesGrid`` of ten rows a page
(``tr.gridrow`` / ``tr.gridrow_alternate``), columns Title | Buyer | Expression Start |
Expression End | Estimated value, the title linking ``/Advert?advertId=<GUID>`` with the DN
reference in its ``title`` attribute, dates DD/MM/YYYY, "N/A" or "£192,000.00" values, one
row "There is no data available." when there is nothing, pages linked from
``.pagination .pagination-item``; the advert page as label -> value blocks (``div.row``, the
value in ``.cell400``), attachments in ``#listOfAttachments-Advert_Public``.

The page texts are kept as the portal writes them; models/formats/procontract.py reads them
(dates, values, CPV codes, regions). No site RSS has been seen, so there is no RSS mode.
Arguments (sources.toml params): ``portal`` (the ``p=`` GUID of one portal's listing),
``region`` (NUTS/ITL code of that portal's buyers, e.g. UKJ4; needs ``portal``), and the
base's ``max_pages``, ``details``, ``download_delay``.
"""

from __future__ import annotations

import re

from bidbell.ids import guid
from spiders.listing_detail import GridListing, LabelledDetail, ListingDetailSpider

_NUTS = re.compile(r"(UK|TL)[C-N](\d[0-9A-Z]?)?")


def portal_guid(text: str) -> str:
    value = guid(text)
    if value is None:
        raise ValueError(f"must be a GUID, got {text!r}")
    return value


def nuts_region(text: str) -> str:
    if not _NUTS.fullmatch(text.upper()):
        raise ValueError(f"must be a NUTS/ITL code such as UKJ45, got {text!r}")
    return text.upper()


class OpportunitiesGrid(GridListing):
    grid = "table#opportunitiesGrid"
    rows = "tr.gridrow, tr.gridrow_alternate"
    columns = {
        "Title": "title",
        "Buyer": "buyer",
        "Expression Start": "published",
        "Expression End": "deadline",
        "Estimated value": "value",
    }
    link_column = "title"
    link = "a[href]"
    link_attributes = {"title": "reference"}  # the DN reference
    id_param = "advertId"
    empty_text = "There is no data available."
    pagination = ".pagination .pagination-item"
    page_param = "Page"
    page_size = 10


class AdvertPage(LabelledDetail):
    root = "#sticky-footer-helper main"
    block = "div.row"
    value = ".cell400"
    labels = {
        "Opportunity Id": "reference",
        "Title": "title",
        "Categories": "categories",
        "Description": "description",
        "Region(s) of supply": "regions",
        "Estimated value": "value",
        "Keywords": "keywords",
        "Start date": "contract_start",
        "End date": "contract_end",
        "Expression of interest window": "window",
        "Buyer": "buyer",
        "Contact": "contact_name",
        "Email": "contact_email",
        "Telephone": "contact_telephone",
        "Address": "buyer_address",
    }
    list_fields = frozenset({"categories", "regions"})
    text_fields = frozenset({"description"})
    required = ("title",)
    tables = {"attachments": ("#listOfAttachments-Advert_Public > tbody > tr", ("name", "size"))}


class ProContractSpider(ListingDetailSpider):
    name = "procontract"
    record_format = "procontract-advert"
    listing = OpportunitiesGrid
    detail = AdvertPage
    listing_path = "/Opportunities/Index"
    detail_path = "/Advert"
    detail_param = "advertId"
    arguments = {"portal": portal_guid, "region": nuts_region}
    scope_argument = "portal"
    scope_param = "p"
    requires = {"region": "portal"}  # a region says where one portal's buyers are
    payload_arguments = {"region": "config_region"}
    id_key = "advert_id"
    detail_key = "advert"
    state_key = "adverts"
