"""Find a Tender (the UK central platform since the Procurement Act 2023, 24 Feb 2025).

API: GET /api/1.0/ocdsReleasePackages?updatedFrom=&updatedTo=&limit=&cursor=
(see ../shared/fixtures/api-docs/find_a_tender_api_GET_ocdsRecordPackages_capture.txt).
Dates are UK local time without a zone; limit is at most 100; the cursor is in links.next;
429/503 carry Retry-After (handled by spiders.middlewares). Long windows are known to miss
records, hence windows of a few hours.
"""

from spiders.base import OcdsReleasePackageSpider


class FindATenderSpider(OcdsReleasePackageSpider):
    name = "find_a_tender"
    endpoint = "/api/1.0/ocdsReleasePackages"
    from_param = "updatedFrom"
    to_param = "updatedTo"
    max_limit = 100
    notice_url_template = "https://www.find-tender.service.gov.uk/Notice/{id}"
