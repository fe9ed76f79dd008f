"""Contracts Finder (CF): the OCDS search API.

API: GET /Published/Notices/OCDS/Search?publishedFrom=&publishedTo=&stages=&limit=&cursor=
(see ../shared/fixtures/api-docs/contracts_finder_api_help_page_capture_2026-05-01.txt).
Dates are UK local time carrying their zone ("Z" in GMT, "+01:00" in BST); limit is at most
100; the cursor is in links.next; ``stages`` (e.g. "planning,tender") comes from the
source's params. CF answers 403 "Request forbidden" when a client must wait five minutes:
that wait is ``status_waits`` (spiders.middlewares).

Notice pages: a release id is ``<notice GUID>-<number>`` and the notice page is
``/Notice/<notice GUID>`` - every release in the real capture links exactly that page in its
documents. The ocid (``ocds-b5fd17-<GUID>``) carries a different GUID (the procurement's),
which has no page, so it is not used for the link.
"""

from bidbell.ids import GUID_PATTERN as GUID
from spiders.base import OcdsReleasePackageSpider


class ContractsFinderSpider(OcdsReleasePackageSpider):
    name = "contracts_finder"
    endpoint = "/Published/Notices/OCDS/Search"
    from_param = "publishedFrom"
    to_param = "publishedTo"
    max_limit = 100
    date_with_offset = True
    filter_params = {"stages": "stages"}
    filter_values = {"stages": frozenset({"planning", "tender", "award", "implementation"})}
    notice_url_template = "https://www.contractsfinder.service.gov.uk/Notice/{id}"
    notice_id_pattern = rf"^({GUID})-\d+$"
    # 403 "Request forbidden": wait five minutes, then ask again.
    status_waits = {403: 300.0}
