"""The one definition of organisations and profiles: normalising, and refusing with a
message that names the field."""

from __future__ import annotations

import pytest

from models.subscribers import places
from models.subscribers.criteria import (
    SubscriberError,
    parse_area,
    read_criteria,
    read_organisation,
    read_profile,
)


def test_criteria_are_normalised() -> None:
    c = read_criteria(
        {
            "cpv_prefixes": "85000000-1; 7931; 85",
            "keywords": ["Supported  Living", "supported living", "Cater"],
            "sectors": ["food and catering"],
            "districts": ["swale", "Shepway District Council"],
            "regions": ["tlj4", "UKJ4"],
            "postcode": "me10 1ab",
            "radius_miles": 20,
        }
    )
    assert c.cpv_prefixes == ["85", "7931"]
    assert c.keywords == ["supported living", "cater"]
    assert c.sectors == ["Food and catering"]
    assert c.districts == ["Swale", "Folkestone and Hythe"]
    assert c.regions == ["UKJ4"]
    assert (c.postcode, c.radius_miles) == ("ME10", 20)
    assert c.value_not_stated is True and c.stages == ["early", "tender", "subcontract"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cpv_prefixes": ["8a"]}, "cpv_prefixes: '8a' is not a CPV code"),
        ({"districts": ["Bexley"]}, "districts: 'Bexley' is not a Kent district"),
        ({"regions": ["Kent"]}, "regions: 'Kent' is not a NUTS/ITL code"),
        ({"sectors": ["Plumbing"]}, "sectors: 'Plumbing' is not a sector"),
        ({"keywords": ["   "]}, "keywords: '   ' has no words"),
        ({"min_value": 10, "max_value": 5}, "min_value 10 is above max_value 5"),
        ({"min_value": -1}, "min_value: a value in pounds cannot be negative"),
        ({"postcode": "ME10"}, "postcode and radius_miles go together"),
        (
            {"postcode": "ZZ99", "radius_miles": 5},
            "postcode: postcode district ZZ99 is not in the outward-code table",
        ),
        ({"postcode": "ME10", "radius_miles": 500}, "radius_miles: a radius is more than 0"),
        ({"stages": ["bid"]}, "stages: 'bid' is not allowed"),
        ({"min_fit_score": 101}, "min_fit_score: "),
        ({"colour": "red"}, "colour: "),
    ],
)
def test_invalid_criteria_name_the_field(data: dict, message: str) -> None:
    with pytest.raises(SubscriberError) as exc:
        read_criteria(data)
    assert message in str(exc.value)


def test_profile_channels_and_frequency() -> None:
    p = read_profile({"channels": "email; sms", "frequency": "weekly"})
    assert p.channels == ["email", "sms"] and p.frequency == "weekly"
    with pytest.raises(SubscriberError, match="channels: choose at least one channel"):
        read_profile({"channels": []})
    with pytest.raises(SubscriberError, match="frequency: 'hourly' is not allowed"):
        read_profile({"frequency": "hourly"})


def test_organisation_mobile_in_e164_and_kinds() -> None:
    o = read_organisation(
        {"name": " Swale  CVS ", "email": "Info@SwaleCVS.example.org", "kind": "infrastructure",
         "sub_kind": "CVS", "mobile": "07911 123456",
         "areas_served": "Swale; within 10 miles of ME10"}
    )  # fmt: skip
    assert (o.name, o.email, o.sub_kind, o.mobile) == (
        "Swale CVS", "info@swalecvs.example.org", "cvs", "+447911123456",
    )  # fmt: skip
    assert o.areas_served == ["Swale", "within 10 miles of ME10"]
    for mobile, why in [
        ("01795 123456", "mobile: '01795 123456' is not a mobile number"),
        ("12345", "mobile: '12345' is not a valid phone number"),
        ("call me", "mobile: 'call me' is not a phone number"),
    ]:
        with pytest.raises(SubscriberError, match=why):
            read_organisation({"name": "X", "email": "x@y.org", "mobile": mobile})
    with pytest.raises(SubscriberError, match="email: 'x@' is not an email address"):
        read_organisation({"name": "X", "email": "x@"})
    with pytest.raises(SubscriberError, match="sub_kind 'charity' is not a kind of sme"):
        read_organisation({"name": "X", "email": "x@y.org", "sub_kind": "charity"})


def test_areas_as_people_write_them() -> None:
    assert parse_area("Tunbridge Wells").district == "Tunbridge Wells"
    assert parse_area("Kent").region == "UKJ4"
    assert parse_area("TLJ45").region == "UKJ45"
    a = parse_area("within 12.5 miles of CT1 2AB")
    assert (a.postcode, a.radius_miles, str(a)) == ("CT1", 12.5, "within 12.5 miles of CT1")
    assert parse_area("ME10 +20").radius_miles == 20
    with pytest.raises(ValueError, match="'Bexleyheath' is not a Kent district"):
        parse_area("Bexleyheath")


def test_outcode_distances() -> None:
    me10, me14 = places.outcode_index("ME10 1AB"), places.outcode_index("ME14")
    ct9 = places.outcode_index("CT9")
    assert me10 is not None and me14 is not None and ct9 is not None
    assert 7 < places.distance_miles(me10, me14) < 9  # Sittingbourne - Maidstone
    assert 30 < places.distance_miles(me14, ct9) < 45  # Maidstone - Margate
    assert places.distance_miles(me10, me14) == places.distance_miles(me14, me10)
    lat1, lon1 = places.centroid("ME10") or (0, 0)
    lat2, lon2 = places.centroid("ME14") or (0, 0)
    assert (
        abs(places.haversine_miles(lat1, lon1, lat2, lon2) - places.distance_miles(me10, me14))
        < 1e-3
    )
    kent = [o for o in places.outcodes() if o.startswith(("ME", "CT", "TN", "DA"))]
    assert len(kent) > 80 and places.postcode_area("ME10") == "UKJ43"
