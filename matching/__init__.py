"""Subscriber profiles compiled into an index, and ``match(opportunities) -> matches``.

``rules`` states the rules once as a plain loop; ``index`` compiles profiles into sharded
postings; ``engine`` matches a batch in array steps and explains the matches; ``alerts``
runs it incrementally against the store and writes the outbox.
"""

from matching.engine import Match, join, match, match_batch, prepare_batch
from matching.index import ProfileIndex, shard_of
from matching.rules import Facts, Rules, compile_rules, facts_from, plain_match

__all__ = [
    "Facts", "Match", "ProfileIndex", "Rules", "compile_rules", "facts_from", "join", "match",
    "match_batch", "plain_match", "prepare_batch", "shard_of",
]  # fmt: skip
