"""Subscriber profiles compiled into an index, and ``match(opportunities) -> matches``."""

from matching.engine import Match, OpportunityView, ProfileIndex, ProfileSpec, match

__all__ = ["Match", "OpportunityView", "ProfileIndex", "ProfileSpec", "match"]
