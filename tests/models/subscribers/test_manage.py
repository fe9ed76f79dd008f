"""Organisations and profiles in the store (SQLite and PostgreSQL): CSV import with bad
rows, re-import, export round trip, removal."""

from __future__ import annotations

import io

import pytest
from sqlmodel import Session, select

from models.store.tables import Organisation, Profile
from models.subscribers.manage import (
    SubscriberError,
    add_subscriber,
    export_csv,
    get_subscriber,
    import_csv,
    list_subscribers,
    remove_subscriber,
)

# constructed: a CVS's member list, as it might hand it over (names invented)
MEMBERS = """name,email,kind,sub_kind,mobile,areas_served,profile,cpv,keywords,areas,max_value,channels,frequency
Swale CVS,info@swalecvs.example.org,infrastructure,cvs,,Swale,,,,,,,weekly
Sheppey Youth Trust,hello@sheppeyyouth.example.org,vcse,charity,07911 123456,Swale,default,,youth work;youth club,Swale,100000,email;sms,instant
Faversham Food Hub CIC,food@favfood.example.org,vcse,cic,,,default,55,cater,within 10 miles of ME13,,email,daily
Faversham Food Hub CIC,food@favfood.example.org,vcse,cic,,,events,79952,event,Swale,,feed,weekly
,nobody@example.org,sme,,,,,,,,,,
No Email Ltd,,sme,,,,,,,,,,
Bad Phone Ltd,bad@phone.example.org,sme,,01234 5,,,,,,,,
Far Away Ltd,far@away.example.org,sme,,,,,,,Bexleyheath,,,
Sheppey Youth Trust,hello@sheppeyyouth.example.org,vcse,charity,07911 123456,Swale,default,,youth work;youth club,Swale,100000,email;sms,instant
Sittingbourne Gardens Ltd,grounds@sitgardens.example.co.uk,sme,micro,,,default,773,grounds maintenance,ME10 +15,50000,email,instant
Texter Ltd,text@er.example.org,sme,,,,,,,,,sms,instant
"""  # noqa: E501


def test_import_reports_bad_rows_stores_the_rest_and_reimport_changes_nothing(
    engine, tmp_path
) -> None:
    path = tmp_path / "members.csv"
    path.write_text(MEMBERS)
    report = import_csv(path, member_of="info@swalecvs.example.org", engine=engine)
    assert report.rows == 11
    assert report.rejected == [
        (6, "name: missing"),
        (7, "email: missing"),
        (8, "mobile: '01234 5' is not a valid phone number"),
        (9, "areas: 'Bexleyheath' is not a Kent district; known: Ashford, Canterbury, "
            "Dartford, Dover, Folkestone and Hythe, Gravesham, Maidstone, Medway, Sevenoaks, "
            "Swale, Thanet, Tonbridge and Malling, Tunbridge Wells (or a NUTS/ITL code)"),
        (10, "duplicate of line 3 (hello@sheppeyyouth.example.org, profile 'default')"),
        (12, "channels: sms needs the organisation's mobile number"),
    ]  # fmt: skip
    assert (report.organisations_created, report.organisations_updated) == (4, 0)
    subs = {o.email: (o, ps) for o, ps in list_subscribers(engine)}
    assert len(subs) == 4
    cvs = subs["info@swalecvs.example.org"][0]
    youth, youth_profiles = subs["hello@sheppeyyouth.example.org"]
    assert youth.mobile == "+447911123456" and youth.member_of_id == cvs.id
    assert youth_profiles[0].channels == ["email", "sms"]
    assert youth_profiles[0].criteria["keywords"] == ["youth work", "youth club"]
    food = subs["food@favfood.example.org"][1]
    assert [(p.name, p.frequency) for p in food] == [("default", "daily"), ("events", "weekly")]
    assert food[0].criteria["postcode"] == "ME13" and food[0].criteria["radius_miles"] == 10
    found = get_subscriber("info@swalecvs.example.org", engine)
    assert found is not None and len(found[2]) == 3  # its members
    # the same file again changes nothing (no new version of any profile)
    versions = {p.id: p.version for _, ps in list_subscribers(engine) for p in ps}
    again = import_csv(path, member_of="info@swalecvs.example.org", engine=engine)
    assert (again.organisations_created, again.organisations_updated, again.unchanged) == (0, 0, 4)
    assert len(again.rejected) == 6
    assert {p.id: p.version for _, ps in list_subscribers(engine) for p in ps} == versions


def test_export_then_import_is_a_round_trip(engine, tmp_path) -> None:
    (tmp_path / "m.csv").write_text(MEMBERS)
    import_csv(tmp_path / "m.csv", member_of="info@swalecvs.example.org", engine=engine)
    out = io.StringIO()
    assert export_csv(out, engine) == 5
    report = import_csv(io.StringIO(out.getvalue()), engine=engine)
    assert (report.rejected, report.unchanged, report.organisations_updated) == ([], 4, 0)


def test_a_changed_profile_gets_a_new_version_and_removal_takes_everything(engine) -> None:
    _org, p1, created = add_subscriber(
        name="Kent Care", email="care@kent.example.org", cpv_prefixes=["85"], engine=engine
    )
    assert created and p1.version == 1
    _, p2, created = add_subscriber(
        name="Kent Care", email="care@kent.example.org", cpv_prefixes=["85"], engine=engine
    )
    assert not created and p2.id == p1.id and p2.version == 1
    _, p3, _ = add_subscriber(
        name="Kent Care", email="care@kent.example.org", cpv_prefixes=["85", "98"],
        areas=["Swale", "UKJ45"], engine=engine,
    )  # fmt: skip
    assert p3.version == 2 and p3.criteria["districts"] == ["Swale"]
    assert p3.criteria["regions"] == ["UKJ45"]
    with pytest.raises(SubscriberError, match="areas: 'Bexley' is not a Kent district"):
        add_subscriber(name="X", email="x@x.example.org", areas=["Bexley"], engine=engine)
    with pytest.raises(SubscriberError, match="member_of: no organisation registered"):
        add_subscriber(name="X", email="x@x.example.org", member_of="n@o.org", engine=engine)
    assert remove_subscriber("care@kent.example.org", engine=engine) is not None
    with Session(engine) as s:
        assert s.exec(select(Organisation)).all() == [] and s.exec(select(Profile)).all() == []
    assert remove_subscriber("care@kent.example.org", engine=engine) is None
