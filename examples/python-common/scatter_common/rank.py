"""The order of hits and the rounding of scores, as examples/search/src/rank.rs.

Shared by a shard's index and the merge so that both rank exactly alike, and
alike with the Rust search.
"""

import math


def best_first(hit):
    """Sort key: higher score first, then document id, then shard.

    Python compares strings by code point, which is the order Rust compares
    their UTF-8 bytes in, so ties break the same way in both languages.
    """
    return (-hit.score, hit.doc, hit.shard)


def keep_top(hits, k):
    """The first `k` of `hits` in best-first order."""
    return sorted(hits, key=best_first)[:k]


def round_score(score):
    """A score rounded to 4 decimal places, halves away from zero.

    Rust's f64::round rounds halves away from zero, Python's round() to even:
    this rounds as Rust does, so a score is the same double in both. The
    difference to the floor is exact in floating point, so the comparison
    with 0.5 is too.
    """
    scaled = score * 10_000.0
    magnitude = abs(scaled)
    whole = math.floor(magnitude)
    if magnitude - whole >= 0.5:
        whole += 1
    return math.copysign(whole, scaled) / 10_000.0
