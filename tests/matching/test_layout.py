"""The packed requirement words (matching.index.Layout) and the value bounds on exact
boundaries: the engine's arithmetic must give the plain comparisons' answers."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import ProfileIndex, compile_rules, match, plain_match
from matching.index import Layout
from models.subscribers.criteria import Criteria

numbers = st.integers(min_value=-(2**20), max_value=2**20)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=12).flatmap(
        lambda k: st.tuples(
            st.lists(
                st.lists(st.tuples(numbers, st.booleans()), min_size=k, max_size=k),
                min_size=1,
                max_size=6,
            ),
            st.lists(st.lists(numbers, min_size=k, max_size=k), min_size=1, max_size=6),
        )
    )
)
def test_packed_words_test_every_field_exactly(data) -> None:
    profiles, units = data
    k = len(profiles[0])
    columns = [
        (np.array([p[f][0] for p in profiles], np.int64), np.array([p[f][1] for p in profiles]))
        for f in range(k)
    ]
    layout, words = Layout.plan(columns)
    assert all(0 < g < 2**63 for g in layout.guards)
    offer = layout.offer([np.array([u[f] for u in units], np.int64) for f in range(k)])
    for i, p in enumerate(profiles):
        for j, u in enumerate(units):
            want = all(none or u[f] >= r for f, (r, none) in enumerate(p))
            got = all(
                (int(have[j]) - int(word[i])) & g == g
                for word, have, g in zip(words, offer, layout.guards, strict=True)
            )
            assert got == want


def test_wide_fields_spill_into_more_words() -> None:
    wide = (np.array([0, 2**20], np.int64), np.array([False, False]))
    layout, words = Layout.plan([wide] * 6)  # 6 fields of 22 bits: three words
    assert len(words) == len(layout.guards) == 3


def test_value_bounds_on_the_notices_own_values(facts) -> None:
    now = datetime(2026, 10, 6, 18, 0, tzinfo=UTC)
    values = sorted({f.value for f in facts.values() if f.value is not None})
    assert len(values) > 50
    rules = []
    for i, v in enumerate(values[:: max(1, len(values) // 40)], 1):
        for j, (lo, hi) in enumerate(
            [(v, None), (None, v), (v, v), (v + 0.01, None), (None, v - 0.01)]
        ):
            c = Criteria.model_validate(
                {
                    "min_value": lo,
                    "max_value": hi,
                    "stages": ["early", "tender", "subcontract", "award"],
                }
            )
            rules.append(compile_rules(10 * i + j, 1, c))
    got = {
        (m.opportunity_id, m.profile_id, m.lot)
        for m in match(facts.values(), ProfileIndex(rules), now)
    }
    want = set(plain_match(facts.values(), rules, now))
    assert got == want and len(want) > 100
