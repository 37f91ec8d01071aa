"""The payload formats of the search, as examples/search/src/wire.rs.

Query (client -> leaves and merge), either content type:
- text/plain: the body is the query text; k is DEFAULT_K;
- application/json: {"query": "hello world", "k": 10, "delay_ms": 0}, k and
  delay_ms optional, unknown fields refused.

Partial (leaf -> merge) and merged result (merge -> client), both
application/json:
{"hits":[{"doc":"doc-000001","title":"...","score":1.234,"shard":0}],"total_hits":17}

A payload that cannot be read raises PayloadError, whose message says why and
is what the caller sees with INVALID_ARGUMENT.
"""

import json
import math
from collections import namedtuple

from scatter_common.index import Hit, tokenize

TEXT_PLAIN = "text/plain"
APPLICATION_JSON = "application/json"
#: Hits returned when the query does not say.
DEFAULT_K = 10
#: The most hits a query may ask for; more is refused, not truncated.
MAX_K = 1000
#: The longest wait a query may ask for with delay_ms.
MAX_DELAY_MS = 60_000

_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1
_QUERY = "query payload"
_QUERY_FORM = '{"query": "hello world", "k": 10}'
_QUERY_FIELDS = ("query", "k", "delay_ms")
_RESULT = "result payload"
_RESULT_FORM = '{"hits": [{"doc": "...", "title": "...", "score": 1.0, "shard": 0}], "total_hits": 1}'

#: A search request: the words to find, how many hits, and how long to wait first.
Query = namedtuple("Query", "query k delay_ms")


class PayloadError(Exception):
    """A payload this search cannot read; the message says why."""


class _Shape(Exception):
    """JSON that parses but does not have the fields and types asked for."""


def read_query(content_type, body):
    """Reads a text/plain or application/json query, refusing one with no
    word to search for, k outside 1..=MAX_K or delay_ms above MAX_DELAY_MS."""
    media = media_type(content_type)
    if media == TEXT_PLAIN:
        query = Query(_utf8(body, _QUERY), DEFAULT_K, 0)
    elif media == APPLICATION_JSON:
        query = _from_json(body, _QUERY, _QUERY_FORM, _query_fields)
    else:
        raise PayloadError(f"unsupported content type {_quoted(content_type)}; "
                           f"send text/plain or application/json")
    if not tokenize(query.query):
        raise PayloadError("empty query: send at least one word (letters or digits) to search for")
    if not 1 <= query.k <= MAX_K:
        raise PayloadError(f"k = {query.k} is out of range; ask for 1 to {MAX_K} hits")
    if query.delay_ms > MAX_DELAY_MS:
        raise PayloadError(f"delay_ms = {query.delay_ms} is out of range; "
                           f"ask for at most {MAX_DELAY_MS} ms")
    return query


def read_results(content_type, body):
    """Reads an application/json partial or result: (hits, total_hits)."""
    if media_type(content_type) != APPLICATION_JSON:
        raise PayloadError(f"unsupported content type {_quoted(content_type)}; send {APPLICATION_JSON}")
    return _from_json(body, _RESULT, _RESULT_FORM, _result_fields)


def results_body(hits, total_hits):
    """Hits and a total as the compact JSON body of a partial or result."""
    value = {
        "hits": [{"doc": h.doc, "title": h.title, "score": h.score, "shard": h.shard} for h in hits],
        "total_hits": total_hits,
    }
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def media_type(content_type):
    """The media type of a content type, without parameters such as
    `; charset=utf-8`, in lowercase."""
    essence = content_type.split(";", 1)[0].strip()
    return "".join(c.lower() if c.isascii() else c for c in essence)


def _quoted(text):
    return json.dumps(text, ensure_ascii=False)


def _utf8(body, what):
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PayloadError(f"{what} is not UTF-8 text: invalid UTF-8 at byte {error.start}") from None


def _from_json(body, what, form, fields):
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_object,
                           parse_constant=_no_constant)
        return fields(value)
    except _Shape as error:
        raise PayloadError(f"{what} is JSON but not of the form {form}: {error}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise PayloadError(f"{what} is not valid JSON: {error}") from None


def _object(pairs):
    value = {}
    for key, item in pairs:
        if key in value:
            raise _Shape(f"duplicate field `{key}`")
        value[key] = item
    return value


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _query_fields(value):
    _expect_object(value, "a query")
    for name in value:
        if name not in _QUERY_FIELDS:
            raise _Shape(f"unknown field `{name}`, expected one of `query`, `k`, `delay_ms`")
    return Query(
        query=_text(value, "query"),
        k=_integer(value, "k", _U64_MAX, DEFAULT_K),
        delay_ms=_integer(value, "delay_ms", _U64_MAX, 0),
    )


def _result_fields(value):
    _expect_object(value, "a result")
    hits = value.get("hits")
    if "hits" not in value:
        raise _Shape("missing field `hits`")
    if not isinstance(hits, list):
        raise _Shape("`hits` is not a list")
    read = []
    for hit in hits:
        _expect_object(hit, "a hit")
        score = hit.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise _Shape("missing or invalid `score`: expected a number")
        try:
            score = float(score)
        except OverflowError:
            score = math.inf
        if not math.isfinite(score):
            raise _Shape("`score` is out of range")
        read.append(Hit(_text(hit, "doc"), _text(hit, "title"), score,
                        _integer(hit, "shard", _U32_MAX)))
    return read, _integer(value, "total_hits", _U64_MAX)


def _expect_object(value, what):
    if not isinstance(value, dict):
        raise _Shape(f"expected {what} as a JSON object, got {type(value).__name__}")


def _text(value, name):
    text = value.get(name)
    if name not in value:
        raise _Shape(f"missing field `{name}`")
    if not isinstance(text, str):
        raise _Shape(f"invalid type for `{name}`: expected a string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Shape(f"`{name}` holds a lone surrogate, which is not Unicode text") from None
    return text


def _integer(value, name, maximum, default=None):
    if name not in value:
        if default is None:
            raise _Shape(f"missing field `{name}`")
        return default
    number = value[name]
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= maximum:
        raise _Shape(f"invalid value for `{name}`: expected an integer from 0 to {maximum}")
    return number
