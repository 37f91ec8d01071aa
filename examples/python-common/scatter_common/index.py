"""An inverted index over one shard's documents, and its scoring, as
examples/search/src/index.rs.

BM25 without IDF and with a fixed average document length: a document's
score depends only on the document and the query, so the merged top k of any
sharding equals the top k of the whole corpus, in Python as in Rust.
"""

import re
from collections import Counter, namedtuple

from scatter_common.rank import best_first, round_score

#: BM25's term-frequency saturation.
K1 = 1.2
#: BM25's length normalisation.
B = 0.75
#: The document length (in words) that counts as average; fixed, not measured.
AVG_DOC_LEN = 100.0

#: One matching document.
Hit = namedtuple("Hit", "doc title score shard")

# Runs of characters for which str.isalnum() holds. That is Rust's
# char::is_alphanumeric for letters and numbers of every script; Rust also
# counts the combining marks of Unicode's Other_Alphabetic (some vowel signs
# of Indic scripts), which split words here.
_WORD = re.compile(r"[^\W_]+")


def tokenize(text):
    """The words of `text`: its runs of letters and digits, lowercased."""
    return [word.lower() for word in _WORD.findall(text)]


def term_score(count, length):
    """One word's contribution: BM25 without IDF, in Rust's order of operations."""
    tf = float(count)
    norm = 1.0 - B + B * float(length) / AVG_DOC_LEN
    return tf * (K1 + 1.0) / (tf + K1 * norm)


class Index:
    """The searchable form of one shard: for each word, the documents holding it and how often."""

    def __init__(self, shard, documents):
        self.shard = shard
        self._ids = []
        self._titles = []
        self._lengths = []
        self._postings = {}
        for position, document in enumerate(documents):
            words = tokenize(document.title) + tokenize(document.text)
            for word, count in Counter(words).items():
                self._postings.setdefault(word, []).append((position, count))
            self._ids.append(document.id)
            self._titles.append(document.title)
            self._lengths.append(min(len(words), 2**32 - 1))

    def __len__(self):
        return len(self._ids)

    def results(self, query, k):
        """The top `k` hits for `query` (best first) and how many documents matched."""
        # Each document sums its words in the same sorted order as the Rust
        # index, so the floating-point sums are the same doubles.
        words = sorted(set(tokenize(query)))
        scores = [0.0] * len(self._ids)
        for word in words:
            for position, count in self._postings.get(word, ()):
                scores[position] += term_score(count, self._lengths[position])
        matches = []
        for position, score in enumerate(scores):
            rounded = round_score(score)
            if rounded > 0.0:
                matches.append(Hit(self._ids[position], self._titles[position], rounded, self.shard))
        return sorted(matches, key=best_first)[:k], len(matches)
