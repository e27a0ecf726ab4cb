"""The texts of a request's URL (addons/request_texts.py): the path, and its segments joined
from each one on, so that a key cut into path segments is found wherever it starts."""

from __future__ import annotations

import random

import pytest
from mitmproxy import http

from addons.request_texts import PATH, PATH_JOINED, url_and_header_texts
from proxy.inspection.engine import Text, inspect_texts
from proxy.inspection.fields import (
    JOIN_MAX_CHARS,
    JOIN_PART_MAX,
    MAX_SUFFIX_JOINS,
    WINDOW_MAX_CHARS,
)
from proxy.inspection.scanner import Scanner
from tests.corpus import fakes

_RNG = random.Random(5151)
AWS_KEY = fakes.aws_access_key_id(_RNG)
GITHUB = fakes.github_token(_RNG, "ghp_")
STRIPE = "sk_live_" + fakes.chars(_RNG, fakes.BASE62, 24)
KEY = b"k" * 32


def _texts(path: str) -> list[Text]:
    request = http.Request.make("GET", f"https://a.test{path}", b"", {"Host": "a.test"})
    return list(url_and_header_texts(request))


def _joins(path: str, *, peeled: bool) -> list[str]:
    """The path's joined texts: to the end (peeled), or the windows (scanned only)."""
    return [t.text for t in _texts(path) if t.location == PATH_JOINED and t.peel is peeled]


def _cut(value: str, width: int) -> str:
    return "/".join(value[i:i + width] for i in range(0, len(value), width))


@pytest.mark.parametrize(("path", "suffixes", "windows"), [
    ("/a/bc/def", ["abcdef", "bcdef"], []),  # no piece starts like a key: no windows
    ("/a/bc/def?q=1", ["abcdef", "bcdef"], []),  # the query is not a segment
    ("/a//b/", ["ab"], []),  # empty segments are no pieces
    ("/v1/messages", ["v1messages"], []),
    ("/docs/file.tar.gz", ["docsfiletargz", "filetargz", "targz"], []),  # "." cuts too
    ("/a%2Fb%2Fc", ["abc", "bc"], []),  # percent-encoded slashes are undone first
    ("/only", [], []),  # one piece: nothing to join
    ("/", [], []),
    ("/x/AK/IA/23/tail", ["xAKIA23tail", "AKIA23tail", "IA23tail", "23tail"],
     ["AKIA", "AKIA23"]),  # from the piece that starts a key start, to each before the last
    ("/x/gh/p_/R8/tail", ["xghp_R8tail", "ghp_R8tail", "p_R8tail", "R8tail"],
     ["ghp_", "ghp_R8"]),
])
def test_pieces_are_joined_to_the_end_and_from_key_starts(path: str, suffixes: list[str],
                                                          windows: list[str]) -> None:
    assert _joins(path, peeled=True) == suffixes
    assert _joins(path, peeled=False) == windows
    assert [t.text for t in _texts(path) if t.location == PATH] == [path.partition("?")[0]]


def test_joins_are_bounded_in_number_and_length() -> None:
    long_piece = "x" * (JOIN_PART_MAX + 1)  # longer segments are scanned in the path itself
    path = "/" + "/".join(["AKIA"] * 100 + [long_piece])
    suffixes, windows = _joins(path, peeled=True), _joins(path, peeled=False)
    assert len(suffixes) == MAX_SUFFIX_JOINS - 1
    assert all(len(text) <= JOIN_MAX_CHARS and long_piece not in text for text in suffixes)
    assert all(len(text) <= WINDOW_MAX_CHARS for text in windows)
    # every piece starts a key here: windows up to the length bound from each, 32 pieces
    per_start = WINDOW_MAX_CHARS // 4 - 1
    assert len(windows) == sum(min(per_start, MAX_SUFFIX_JOINS - 2 - start)
                               for start in range(MAX_SUFFIX_JOINS - 2))


@pytest.mark.parametrize("path", [
    "/u/" + _cut(GITHUB, 5),
    "/api/v2/upload/" + _cut(STRIPE, 5),
    "/files/" + _cut(AWS_KEY, 3) + "/raw",
    "/x/" + _cut(GITHUB, 2),
    "/x/" + _cut(GITHUB, 6) + "/y/z",
    "/a/b/" + _cut(GITHUB, 4) + "/x/y",  # ten pieces with more after them
    "/v1/" + _cut(AWS_KEY, 2) + "/end",
    "/u/" + _cut(GITHUB, 5).replace("/", "%2F"),
    "/api;" + _cut(AWS_KEY, 5).replace("/", ";"),
    "/a/" + _cut(AWS_KEY, 5).replace("/", ".") + "/b",
], ids=["github-in-fives", "stripe-in-fives-after-other-segments", "aws-in-threes-then-more",
        "github-in-twos", "github-in-sixes-then-more", "github-in-fours-then-more",
        "aws-in-twos-then-more", "github-cut-by-encoded-slashes", "aws-cut-by-semicolons",
        "aws-cut-by-dots-inside-a-segment"])
def test_a_key_cut_into_path_segments_is_found_at_the_joined_location(scanner: Scanner,
                                                                     path: str) -> None:
    inspection = inspect_texts(_texts(path), scanner, KEY, max_depth=3)
    assert [h.finding.location for h in inspection.hits] == [PATH_JOINED]


@pytest.mark.parametrize("path", [
    "/repos/octo-org/hello-world/git/commits/7f0c2d9e4b1a8c3f5e6d7a8b9c0d1e2f3a4b5c6d",
    "/v1/projects/my-project-123/locations/us-central1/models/text-bison",
    "/api/AKIA/ROUTES/ORDERS/HANDLERS",  # not 16 after AKIA
    "/api/" + _cut(AWS_KEY[:19], 4),  # one character short
    "/users/4111/1111/1111/1111/orders",  # joins are not scanned for personal data
])
def test_honest_paths_joined_find_nothing(scanner: Scanner, path: str) -> None:
    assert inspect_texts(_texts(path), scanner, KEY, max_depth=3).hits == ()
