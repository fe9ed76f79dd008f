"""What an organisation is and what it wants to hear about: the ONE definition.

A profile is a saved search. Its ``Criteria`` are read by the store (saved as JSON on the
profile row), the command line and the CSV import (to refuse bad input with a message naming
the field), the matcher (``matching.rules`` compiles them) and the web search. Pure: no
database, no I/O beyond the package's own reference data.

Criteria, each optional (an empty one does not restrict):
- topic: sectors by name (models.classify.SECTORS), CPV prefixes, keyword phrases. An
  opportunity fits the topic when any of them does. Keywords are phrases matched on word
  stems ("cater" finds catering and caterers); the words of a phrase must follow each
  other ("supported living" finds "support for living" only if written so).
- exclusions: sectors, CPV prefixes and words that rule an opportunity out.
- value: a range in pounds; "value not stated" included unless the profile says otherwise.
- area: Kent districts, NUTS/ITL codes (TLJ4 = UKJ4: Kent), or a postcode and a radius in
  miles. An opportunity fits when any of them does.
- stages: early notice (pipeline, market engagement, planned), tender, subcontract, award.
- suitable for SMEs or VCSEs only, lowest fit score, fewest days left to respond.
Delivery preferences sit beside the criteria on the profile: channels and frequency.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.classify.kent_postcodes import DISTRICTS, KENT, KENT_CODE
from models.classify.sectors import SECTORS
from models.subscribers import places

# --- organisations -----------------------------------------------------------------------
KINDS: dict[str, tuple[str, ...]] = {
    "sme": ("micro", "small", "medium"),
    "vcse": ("charity", "cic", "community_group", "social_enterprise"),
    "infrastructure": ("cvs", "chamber", "federation"),
}
KIND_LABEL = {
    "sme": "small or medium-sized enterprise",
    "vcse": "voluntary, community or social enterprise",
    "infrastructure": "infrastructure organisation",
    "micro": "micro business",
    "small": "small business",
    "medium": "medium-sized business",
    "charity": "charity",
    "cic": "community interest company",
    "community_group": "community group",
    "social_enterprise": "social enterprise",
    "cvs": "council for voluntary service",
    "chamber": "chamber of commerce",
    "federation": "federation",
}

# --- profiles ----------------------------------------------------------------------------
Stage = Literal["early", "tender", "subcontract", "award"]
STAGES: tuple[Stage, ...] = ("early", "tender", "subcontract", "award")
DEFAULT_STAGES: tuple[Stage, ...] = ("early", "tender", "subcontract")
STAGE_LABEL = {
    "early": "early notice",
    "tender": "tender",
    "subcontract": "subcontract",
    "award": "award",
}
Channel = Literal["email", "sms", "feed"]
CHANNELS: tuple[Channel, ...] = ("email", "sms", "feed")
Frequency = Literal["instant", "daily", "weekly"]
FREQUENCIES: tuple[Frequency, ...] = ("instant", "daily", "weekly")
Suitability = Literal["sme", "vcse"]

MAX_PHRASE_WORDS = 6
MAX_RADIUS_MILES = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUTS = re.compile(r"^UK([C-N]([0-9A-Z]([0-9A-Z]{1,2})?)?)?$")
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)
_RADIUS = (
    re.compile(
        r"^(?:within\s+)?(\d+(?:\.\d+)?)\s*(?:miles?|mi)\s+(?:of|from|around)\s+(.+)$", re.I
    ),
    re.compile(r"^(.+?)\s*\+\s*(\d+(?:\.\d+)?)\s*(?:miles?|mi)?$", re.I),
)
_DISTRICT_NAMES = {d.lower(): d for d in DISTRICTS} | {
    "shepway": "Folkestone and Hythe",  # the name until 2018
    "folkestone & hythe": "Folkestone and Hythe",
    "tonbridge & malling": "Tonbridge and Malling",
}
_SECTOR_NAMES = {s.lower(): s for s in SECTORS}


class SubscriberError(ValueError):
    """Input that cannot be stored: the message names the field and says why."""


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _split(value: Any) -> Any:
    """A list as given, or text split on ';' (the CSV and the command line give text)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    return value


def normalise_cpv(code: str) -> str:
    """'85311000-2' -> '85311'; '85000000' -> '85'; '7931' -> '7931'. A full 8-digit code
    is cut to its significant digits (CPV codes fill with zeros below their level)."""
    text = code.strip()
    text = re.sub(r"-\d$", "", text)
    if not text.isdigit() or not 1 <= len(text) <= 8:
        raise ValueError(f"{code!r} is not a CPV code or prefix (1 to 8 digits, e.g. 85 or 7931)")
    if len(text) == 8:
        text = text.rstrip("0")
        text = text if len(text) >= 2 else text.ljust(2, "0")
    return text


def normalise_region(code: str) -> str:
    """'tlj4' -> 'UKJ4' (ITL codes mirror NUTS with TL for UK); refuses what is neither."""
    text = code.strip().upper().replace(" ", "")
    if text.startswith("TL"):
        text = "UK" + text[2:]
    if not _NUTS.match(text):
        raise ValueError(
            f"{code!r} is not a NUTS/ITL code (UK, UKJ, UKJ4, UKJ45 or TLJ45 for example)"
        )
    return text


def normalise_district(name: str) -> str:
    key = re.sub(r"\s+", " ", name.strip().lower())
    key = re.sub(r"\s+(borough|district|city)?\s*council$", "", key).strip()
    if key in _DISTRICT_NAMES:
        return _DISTRICT_NAMES[key]
    raise ValueError(
        f"{name!r} is not a Kent district; known: {', '.join(DISTRICTS)} (or a NUTS/ITL code)"
    )


def normalise_sector(name: str) -> str:
    key = re.sub(r"\s+", " ", name.strip().lower())
    if key in _SECTOR_NAMES:
        return _SECTOR_NAMES[key]
    raise ValueError(f"{name!r} is not a sector; known: {'; '.join(SECTORS)}")


def normalise_phrase(phrase: str) -> str:
    words = _WORDS.findall(phrase.lower())
    if not words:
        raise ValueError(f"{phrase!r} has no words")
    if len(words) > MAX_PHRASE_WORDS:
        raise ValueError(f"{phrase!r} is longer than {MAX_PHRASE_WORDS} words")
    return " ".join(words)


def normalise_mobile(number: str) -> str:
    """A UK (or international, with +) mobile number in E.164: '07700 900123' ->
    '+447700900123'. Refuses what is not a valid mobile number."""
    try:
        parsed = phonenumbers.parse(number.strip(), "GB")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{number!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{number!r} is not a valid phone number")
    kind = phonenumbers.number_type(parsed)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValueError(f"{number!r} is not a mobile number (SMS alerts need one)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(email: str) -> str:
    text = email.strip().lower()
    if not _EMAIL.match(text):
        raise ValueError(f"{email!r} is not an email address")
    return text


class Area(BaseModel):
    """One area as a person writes it: a Kent district, a NUTS/ITL code, or a postcode and a
    radius ("within 20 miles of ME10", "ME10 +20")."""

    model_config = ConfigDict(frozen=True)
    district: str | None = None
    region: str | None = None
    postcode: str | None = None
    radius_miles: float | None = None

    def __str__(self) -> str:
        if self.postcode is not None:
            return f"within {self.radius_miles:g} miles of {self.postcode}"
        return self.district or self.region or ""


def parse_area(text: str) -> Area:
    raw = text.strip()
    for i, pattern in enumerate(_RADIUS):
        m = pattern.match(raw)
        if m:
            miles, where = (m.group(1), m.group(2)) if i == 0 else (m.group(2), m.group(1))
            return Area(postcode=_postcode(where), radius_miles=_radius(float(miles)))
    if raw.lower() == KENT.lower():
        return Area(region=KENT_CODE)
    if re.match(r"^(UK|TL)[A-Z0-9]{0,3}$", raw.upper().replace(" ", "")):
        return Area(region=normalise_region(raw))
    return Area(district=normalise_district(raw))


def _postcode(text: str) -> str:
    code = places.outcode(text)
    if code is None:
        raise ValueError(f"{text!r} is not a UK postcode or outward code")
    if places.outcode_index(code) is None:
        raise ValueError(f"postcode district {code} is not in the outward-code table")
    return code


def _radius(miles: float) -> float:
    if not 0 < miles <= MAX_RADIUS_MILES:
        raise ValueError(f"a radius is more than 0 and at most {MAX_RADIUS_MILES} miles")
    return miles


StrList = Annotated[list[str], Field(default_factory=list)]


class Criteria(BaseModel):
    """A saved search. Lists are kept normalised and without repeats."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sectors: StrList
    exclude_sectors: StrList
    cpv_prefixes: StrList
    exclude_cpv: StrList
    keywords: StrList
    exclude_keywords: StrList
    min_value: float | None = None
    max_value: float | None = None
    value_not_stated: bool = True
    districts: StrList
    regions: StrList
    postcode: str | None = None
    radius_miles: float | None = None
    stages: list[Stage] = Field(default_factory=lambda: list(DEFAULT_STAGES))
    suitable_for: list[Suitability] = Field(default_factory=list)
    min_fit_score: int | None = Field(default=None, ge=0, le=100)
    min_days_left: int | None = Field(default=None, ge=0, le=365)

    @field_validator(
        "sectors", "exclude_sectors", "cpv_prefixes", "exclude_cpv", "keywords",
        "exclude_keywords", "districts", "regions", "stages", "suitable_for", mode="before",
    )  # fmt: skip
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("sectors", "exclude_sectors")
    @classmethod
    def _sectors(cls, value: list[str]) -> list[str]:
        return _unique([normalise_sector(v) for v in value])

    @field_validator("cpv_prefixes", "exclude_cpv")
    @classmethod
    def _cpv(cls, value: list[str]) -> list[str]:
        return _unique([normalise_cpv(v) for v in value])

    @field_validator("keywords", "exclude_keywords")
    @classmethod
    def _phrases(cls, value: list[str]) -> list[str]:
        return _unique([normalise_phrase(v) for v in value])

    @field_validator("districts")
    @classmethod
    def _districts(cls, value: list[str]) -> list[str]:
        return _unique([normalise_district(v) for v in value])

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        return _unique([normalise_region(v) for v in value])

    @field_validator("stages", "suitable_for")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return _unique(value)

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str | None) -> str | None:
        return _postcode(value) if value is not None and value.strip() else None

    @field_validator("radius_miles")
    @classmethod
    def _radius(cls, value: float | None) -> float | None:
        return _radius(value) if value is not None else None

    @field_validator("min_value", "max_value")
    @classmethod
    def _money(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError("a value in pounds cannot be negative")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Criteria:
        lo, hi = self.min_value, self.max_value
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"min_value {lo:,.0f} is above max_value {hi:,.0f}")
        if (self.postcode is None) != (self.radius_miles is None):
            raise ValueError("postcode and radius_miles go together: give both or neither")
        if not self.stages:
            raise ValueError(f"stages: choose at least one of {', '.join(STAGES)}")
        clash = set(self.sectors) & set(self.exclude_sectors)
        if clash:
            raise ValueError(f"sectors and exclude_sectors both name {', '.join(sorted(clash))}")
        return self

    def areas(self) -> list[Area]:
        out = [Area(district=d) for d in self.districts] + [Area(region=r) for r in self.regions]
        if self.postcode is not None:
            out.append(Area(postcode=self.postcode, radius_miles=self.radius_miles))
        return out


def criteria_with_areas(data: dict[str, Any], areas: list[str]) -> dict[str, Any]:
    """Criteria fields with areas written as people write them ("Swale", "UKJ4", "within 10
    miles of ME10") turned into districts, regions, postcode and radius."""
    out = dict(data)
    districts, regions = list(out.get("districts") or []), list(out.get("regions") or [])
    for text in areas:
        area = parse_area(text)
        if area.district:
            districts.append(area.district)
        elif area.region:
            regions.append(area.region)
        else:
            if out.get("postcode"):
                raise ValueError("one postcode and radius per profile")
            out["postcode"], out["radius_miles"] = area.postcode, area.radius_miles
    out["districts"], out["regions"] = districts, regions
    return out


class ProfileForm(BaseModel):
    """A profile as submitted: its name, criteria and delivery preferences."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    criteria: Criteria = Field(default_factory=lambda: Criteria.model_validate({}))
    channels: list[Channel] = Field(default_factory=lambda: list(CHANNELS[:1]))
    frequency: Frequency = "instant"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        text = value.strip()
        if not text or len(text) > 128:
            raise ValueError("a profile name is 1 to 128 characters")
        return text

    @field_validator("channels", mode="before")
    @classmethod
    def _channels_text(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"choose at least one channel of {', '.join(CHANNELS)}")
        return _unique(value)


class OrganisationForm(BaseModel):
    """An organisation as submitted. ``member_of`` is the email of the infrastructure
    organisation it is a member of (a CVS, chamber or federation that registered it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    email: str
    kind: Literal["sme", "vcse", "infrastructure"] = "sme"
    sub_kind: str | None = None
    mobile: str | None = None
    areas_served: StrList
    member_of: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        text = re.sub(r"\s+", " ", value).strip()
        if not text or len(text) > 256:
            raise ValueError("the organisation needs a name (at most 256 characters)")
        return text

    @field_validator("email", "member_of")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalise_email(value) if value is not None and value.strip() else None

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, value: str | None) -> str | None:
        return normalise_mobile(value) if value is not None and value.strip() else None

    @field_validator("sub_kind", mode="before")
    @classmethod
    def _sub_kind_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = re.sub(r"[\s-]+", "_", value.strip().lower())
            return text or None
        return value

    @field_validator("areas_served", mode="before")
    @classmethod
    def _areas_text(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("areas_served")
    @classmethod
    def _areas(cls, value: list[str]) -> list[str]:
        return _unique([str(parse_area(v)) for v in value])

    @model_validator(mode="after")
    def _coherent(self) -> OrganisationForm:
        if self.sub_kind is not None and self.sub_kind not in KINDS[self.kind]:
            raise ValueError(
                f"sub_kind {self.sub_kind!r} is not a kind of {self.kind}; "
                f"one of {', '.join(KINDS[self.kind])}"
            )
        if self.member_of is not None and self.member_of == self.email:
            raise ValueError("member_of: an organisation cannot be a member of itself")
        return self


def explain_error(exc: ValidationError, prefix: str = "") -> str:
    """'criteria.max_value: ...; email: ...' from pydantic's errors: each names its field."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"] if not isinstance(x, int))
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "literal_error":
            msg = f"{err.get('input')!r} is not allowed; {msg.lower()}"
        parts.append(
            f"{prefix}{loc}: {msg}" if loc else f"{prefix.rstrip('.')}: {msg}".lstrip(": ")
        )
    return "; ".join(parts)


def read_criteria(data: dict[str, Any]) -> Criteria:
    """Criteria from plain data, or a SubscriberError naming the field."""
    try:
        return Criteria.model_validate(data)
    except ValidationError as exc:
        raise SubscriberError(explain_error(exc)) from None


def read_profile(data: dict[str, Any]) -> ProfileForm:
    try:
        return ProfileForm.model_validate(data)
    except ValidationError as exc:
        raise SubscriberError(explain_error(exc)) from None


def read_organisation(data: dict[str, Any]) -> OrganisationForm:
    try:
        return OrganisationForm.model_validate(data)
    except ValidationError as exc:
        raise SubscriberError(explain_error(exc)) from None
