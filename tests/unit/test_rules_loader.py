"""Rule files: what compiles to which Policy, and every way to get one wrong, with its line."""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable
from functools import partial
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from proxy.policy.check import check_rules
from proxy.policy.hosts import HostPattern
from proxy.policy.loader import (
    DEFAULT_RULES_PATH,
    MAX_RULE_FILE_BYTES,
    Problem,
    RuleFileError,
    load_rules,
    load_rules_text,
)
from proxy.policy.model import (
    DEFAULT_PORTS,
    DEFAULT_SCHEMES,
    Destination,
    Effect,
    Mode,
    NetworkPolicy,
    Policy,
)

SOURCE = "rules.yaml"
RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


def _load(text: str) -> Policy:
    return load_rules_text(textwrap.dedent(text), SOURCE)


def _problems(text: str) -> list[Problem]:
    with pytest.raises(RuleFileError) as caught:
        _load(text)
    return caught.value.problems


def _patterns(*texts: str) -> tuple[HostPattern, ...]:
    return tuple(HostPattern.parse(text) for text in texts)


# --- valid files -----------------------------------------------------------------------------

VALID: dict[str, tuple[str, Policy]] = {
    "minimal file: enforce, nothing allowed": (
        "version: 1\n",
        Policy(version=1, source=SOURCE),
    ),
    "defaults filled, id from position, host normalised": (
        """\
        version: 1
        destinations:
          - host: GitHub.COM.
        """,
        Policy(version=1, source=SOURCE, destinations=(
            Destination(id="dest-1", hosts=_patterns("github.com"), ports=DEFAULT_PORTS,
                        schemes=DEFAULT_SCHEMES, mode=Mode.ENFORCE, line=3),
        )),
    ),
    "every key of a destination": (
        """\
        version: 1
        mode: monitor
        destinations:
          - id: api
            action: allow
            hosts: ["*.Example.org", example.org, bücher.example]
            ports: [8443]
            schemes: [https]
            methods: [get, Post]
            paths: [/v1/messages, /static/]
            inspect: true
            raw_tcp: true
            mode: enforce
            final: true
        """,
        Policy(version=1, mode=Mode.MONITOR, source=SOURCE, destinations=(
            Destination(
                id="api", effect=Effect.ALLOW,
                hosts=_patterns("*.example.org", "example.org", "xn--bcher-kva.example"),
                ports=frozenset({8443}), schemes=frozenset({"https"}),
                methods=frozenset({"GET", "POST"}), paths=("/v1/messages", "/static/"),
                inspect=True, raw_tcp=True, mode=Mode.ENFORCE, final=True, line=4,
            ),
        )),
    ),
    "destination mode defaults to the file's mode; deny with methods": (
        """\
        version: 1
        mode: monitor
        destinations:
          - id: no-posts
            action: deny
            host: example.com
            methods: [POST]
          - cidrs: [192.0.2.0/24, "2001:db8::/32"]
            inspect: false
        """,
        Policy(version=1, mode=Mode.MONITOR, source=SOURCE, destinations=(
            Destination(id="no-posts", effect=Effect.DENY, hosts=_patterns("example.com"),
                        methods=frozenset({"POST"}), mode=Mode.MONITOR, line=4,
                        ports=None),  # a deny entry without ports covers every port
            Destination(id="dest-2",
                        cidrs=(ip_network("192.0.2.0/24"), ip_network("2001:db8::/32")),
                        inspect=False, mode=Mode.MONITOR, line=8),
        )),
    ),
    "network: allow_private, hosts with one address or a list": (
        """\
        version: 1
        network:
          allow_private: [10.42.0.0/16, "fd00::/8"]
          hosts:
            Mirror.Internal.: 10.42.0.10
            db.internal: [10.42.0.11, "fd00::11"]
        """,
        Policy(version=1, source=SOURCE, network=NetworkPolicy(
            allow_private=(ip_network("10.42.0.0/16"), ip_network("fd00::/8")),
            hosts={
                "mirror.internal": (ip_address("10.42.0.10"),),
                "db.internal": (ip_address("10.42.0.11"), ip_address("fd00::11")),
            },
        )),
    ),
    "explicit empty destinations list": (
        "version: 1\nmode: enforce\ndestinations: []\n",
        Policy(version=1, source=SOURCE),
    ),
    "quoted strings and comments are fine": (
        """\
        # a comment
        "version": 1   # trailing comment
        destinations:
          - {id: "a.b_c-9", host: 'example.com', ports: [443], final: false}
        """,
        Policy(version=1, source=SOURCE, destinations=(
            Destination(id="a.b_c-9", hosts=_patterns("example.com"),
                        ports=frozenset({443}), line=4),
        )),
    ),
}


@pytest.mark.parametrize(("text", "expected"), VALID.values(), ids=VALID.keys())
def test_valid_files_compile_to_the_expected_policy(text: str, expected: Policy) -> None:
    assert _load(text) == expected


# --- bad files: every problem at its line ----------------------------------------------------

# name: (file text, [(line, fragment of "message (fix: ...)"), ...] — exactly these problems)
ERRORS: dict[str, tuple[str, list[tuple[int, str]]]] = {
    "unknown top-level key": (
        "version: 1\nmodes: monitor\n", [(2, "unknown key 'modes' (fix: did you mean 'mode'?)")]),
    "unknown destination key": (
        """\
        version: 1
        destinations:
          - host: example.com
            port: 443
        """,
        [(4, "unknown key 'port' (fix: did you mean 'ports'?)")]),
    "port as a string": (
        """\
        version: 1
        destinations:
          - host: example.com
            ports: ["443"]
        """,
        [(4, "ports: expected an integer, got '443' (fix: write 443")]),
    "octal-looking port": (
        """\
        version: 1
        destinations:
          - host: example.com
            ports:
              - 80
              - 0443
        """,
        [(6, "expected an integer, got '0443'")]),
    "yes is not a boolean": (
        """\
        version: 1
        destinations:
          - host: example.com
            inspect: yes
        """,
        [(4, "inspect: expected true or false, got 'yes' (fix: write true)")]),
    "quoted boolean": (
        """\
        version: 1
        destinations:
          - host: example.com
            final: "true"
        """,
        [(4, "final: expected true or false")]),
    "version 2": ("version: 2\n", [(1, "unsupported rule file version 2")]),
    "version as a float": ("version: 1.0\n", [(1, "version: expected an integer")]),
    "missing version": (
        "# rules\nmode: enforce\n", [(2, "missing required key 'version' (fix: add version: 1")]),
    "bad mode": ("version: 1\nmode: enforcing\n", [(2, "expected 'enforce' or 'monitor'")]),
    "bad destination mode": (
        """\
        version: 1
        destinations:
          - host: example.com
            mode: Monitor
        """,
        [(4, "got 'Monitor' (fix: write monitor)")]),
    "bad action": (
        """\
        version: 1
        destinations:
          - host: example.com
            action: block
        """,
        [(4, "action: expected 'allow' or 'deny'")]),
    "star alone": (
        """\
        version: 1
        destinations:
          - host: "*"
        """,
        [(3, "'*' would allow every host")]),
    "wildcard over a top-level domain": (
        """\
        version: 1
        destinations:
          - host: "*.com"
        """,
        [(3, "top-level domain 'com'")]),
    "wildcard inside a label": (
        """\
        version: 1
        destinations:
          - hosts:
              - example.com
              - api*.x.com
        """,
        [(5, "did you mean '*.x.com'?")]),
    "leading dot": (
        """\
        version: 1
        destinations:
          - host: .github.com
        """,
        [(3, "starts with a dot (fix: did you mean '*.github.com'?")]),
    "IP literal as host": (
        """\
        version: 1
        destinations:
          - host: 10.1.2.3
        """,
        [(3, "'10.1.2.3/32' under cidrs")]),
    "host with a port": (
        """\
        version: 1
        destinations:
          - host: example.com:443
        """,
        [(3, "without a port")]),
    "CIDR with host bits": (
        """\
        version: 1
        destinations:
          - cidrs: [10.0.0.1/8]
        """,
        [(3, "'10.0.0.1/8' has host bits set after the prefix length (fix: write 10.0.0.0/8)")]),
    "not a CIDR": (
        """\
        version: 1
        destinations:
          - cidrs:
              - 10.0.0.0/33
        """,
        [(4, "'10.0.0.0/33' is not a valid CIDR network")]),
    "allow_private everything": (
        """\
        version: 1
        network:
          allow_private:
            - 10.0.0.0/8
            - 0.0.0.0/0
        """,
        [(5, "'0.0.0.0/0' covers every address")]),
    "allow_private everything IPv6": (
        "version: 1\nnetwork:\n  allow_private: ['::/0']\n", [(3, "covers every address")]),
    "allow_private everything in two halves": (
        """\
        version: 1
        network:
          allow_private: [0.0.0.0/1, 128.0.0.0/1]
        """,
        [(3, "together these networks cover every address")]),
    "allow_private with host bits": (
        "version: 1\nnetwork:\n  allow_private: [10.0.0.1/8]\n", [(3, "write 10.0.0.0/8")]),
    "inspect false with paths": (
        """\
        version: 1
        destinations:
          - host: example.com
            inspect: false
            paths: [/v1]
        """,
        [(5, "paths cannot be checked with inspect: false")]),
    "inspect false with methods and paths": (
        """\
        version: 1
        destinations:
          - host: example.com
            inspect: false
            methods: [GET]
            paths: [/v1]
        """,
        [(5, "methods cannot be checked"), (6, "paths cannot be checked")]),
    "deny with inspect false": (
        """\
        version: 1
        destinations:
          - host: example.com
            action: deny
            inspect: false
        """,
        [(5, "inspect: false means nothing on a deny entry")]),
    "deny with raw_tcp": (
        """\
        version: 1
        destinations:
          - host: example.com
            action: deny
            raw_tcp: true
        """,
        [(5, "raw_tcp: true means nothing on a deny entry")]),
    "duplicate id": (
        """\
        version: 1
        destinations:
          - id: gh
            host: github.com
          - id: gh
            host: api.github.com
        """,
        [(5, "id 'gh' is already used by destination 1")]),
    "explicit id equal to a default id": (
        """\
        version: 1
        destinations:
          - host: github.com
          - id: dest-1
            host: api.github.com
        """,
        [(4, "id 'dest-1' is already used by destination 1")]),
    "bad id": (
        """\
        version: 1
        destinations:
          - id: My Rule
            host: example.com
        """,
        [(3, "or digit (fix: for example id: my-rule)")]),
    "id that YAML reads as a number": (
        "version: 1\ndestinations:\n  - id: 123\n    host: example.com\n",
        [(3, "id: expected text, got the integer 123 (fix: put it in quotes)")]),
    "duplicate key": (
        """\
        version: 1
        destinations:
          - host: example.com
            ports: [443]
            ports: [80]
        """,
        [(5, "duplicate key 'ports' (first on line 4)")]),
    "duplicate top-level key": ("version: 1\nmode: enforce\nversion: 1\n",
                                [(3, "duplicate key 'version' (first on line 1)")]),
    "anchor and alias": (
        """\
        version: 1
        destinations:
          - &github
            host: github.com
          - *github
        """,
        [(3, "YAML anchor &github is not allowed"), (5, "YAML alias *github is not allowed")]),
    "merge key": (
        """\
        version: 1
        destinations:
          - <<: {host: github.com}
        """,
        [(3, "merge keys (<<) are not allowed")]),
    "unsupported tag": ("version: !!python/object:os.system 1\n",
                        [(1, "YAML tag !!python/object:os.system is not supported")]),
    "empty destinations entry": (
        """\
        version: 1
        destinations:
          - host: example.com
          -
        """,
        [(4, "expected a mapping of keys to values, got nothing")]),
    "destinations is not a list": (
        "version: 1\ndestinations:\n  host: example.com\n",
        [(2, "expected a list, got a mapping")]),
    "host and hosts both": (
        """\
        version: 1
        destinations:
          - host: example.com
            hosts: [example.org]
        """,
        [(4, "both host and hosts; give exactly one of host, hosts or cidrs")]),
    "hosts and cidrs both": (
        """\
        version: 1
        destinations:
          - hosts: [example.org]
            cidrs: [192.0.2.0/24]
        """,
        [(4, "both hosts and cidrs")]),
    "none of host, hosts, cidrs": (
        """\
        version: 1
        destinations:
          - id: nothing
            ports: [443]
        """,
        [(3, "none of host, hosts or cidrs")]),
    "hosts given as a string": (
        "version: 1\ndestinations:\n  - hosts: example.com\n",
        [(3, "expected a list, got 'example.com' (fix: write it as a list: [example.com])")]),
    "port 0": (
        "version: 1\ndestinations:\n  - host: example.com\n    ports: [0]\n",
        [(4, "port 0 is out of range (fix: use a port from 1 to 65535)")]),
    "port 70000": (
        "version: 1\ndestinations:\n  - host: example.com\n    ports: [443, 70000]\n",
        [(4, "port 70000 is out of range")]),
    "empty ports list": (
        "version: 1\ndestinations:\n  - host: example.com\n    ports: []\n",
        [(4, "ports: must not be empty")]),
    "empty methods value is not 'any method'": (
        "version: 1\ndestinations:\n  - host: example.com\n    methods:\n",
        [(4, "methods: has no value")]),
    "bad scheme": (
        "version: 1\ndestinations:\n  - host: example.com\n    schemes: [https, ftp]\n",
        [(4, "expected 'https' or 'http', got 'ftp'")]),
    "path without slash": (
        "version: 1\ndestinations:\n  - host: example.com\n    paths: [v1/messages]\n",
        [(4, "path 'v1/messages' must start with '/' (fix: write /v1/messages)")]),
    "path with a query": (
        "version: 1\ndestinations:\n  - host: example.com\n    paths: ['/search?q=1']\n",
        [(4, "contains a query or fragment; paths are matched without them (fix: write /search)")]),
    "path with a fragment": (
        "version: 1\ndestinations:\n  - host: example.com\n    paths: ['/a#b']\n",
        [(4, "contains a query or fragment")]),
    "path with dot-dot": (
        "version: 1\ndestinations:\n  - host: example.com\n    paths: [/v1/../admin]\n",
        [(4, "contains a '.' or '..' segment")]),
    "method CONNECT": (
        "version: 1\ndestinations:\n  - host: example.com\n    methods: [GET, connect]\n",
        [(4, "method CONNECT cannot be listed")]),
    "method that is not a token": (
        "version: 1\ndestinations:\n  - host: example.com\n    methods: ['GET /']\n",
        [(4, "method 'GET /' is not an HTTP method")]),
    "network.hosts value not an IP": (
        """\
        version: 1
        network:
          hosts:
            db.internal: [10.0.0.5, db.example]
        """,
        [(4, "'db.example' is not an IP address")]),
    "network.hosts key is a wildcard": (
        """\
        version: 1
        network:
          hosts:
            "*.internal": 10.0.0.5
        """,
        [(4, "network.hosts: '*.internal' is a wildcard")]),
    "network.hosts key is an IP": (
        "version: 1\nnetwork:\n  hosts:\n    10.0.0.5: 10.0.0.6\n",
        [(4, "'10.0.0.5' is an IP address; this map gives addresses to names")]),
    "network.hosts names that normalise alike": (
        """\
        version: 1
        network:
          hosts:
            db.internal: 10.0.0.5
            DB.Internal.: 10.0.0.6
        """,
        [(5, "'DB.Internal.' is the same host as 'db.internal'")]),
    "network.hosts empty list": (
        "version: 1\nnetwork:\n  hosts:\n    db.internal: []\n", [(4, "must not be empty")]),
    "top level is a list": ("- version: 1\n", [(1, "the top level must be a mapping")]),
    "top level is a scalar": ("just text\n", [(1, "the top level must be a mapping")]),
    "empty file": ("", [(1, "the file is empty (fix: start it with version: 1)")]),
    "only comments": ("# nothing here\n\n", [(1, "the file is empty")]),
    "broken YAML": ("version: 1\ndestinations:\n  - host: [a\n", [(4, "invalid YAML")]),
    "unquoted wildcard is read as a YAML alias": (
        "version: 1\ndestinations:\n  - host: *.github.com\n",
        [(3, "fix: quote host patterns that start with '*'")]),
    "two documents": ("version: 1\n---\nversion: 1\n", [(2, "expected a single document")]),
    "control character": ("version: 1\nmode: \x1b\n", [(2, "control character U+001B")]),
}


@pytest.mark.parametrize(("text", "expected"), ERRORS.values(), ids=ERRORS.keys())
def test_bad_files_report_each_problem_at_its_line(
    text: str, expected: list[tuple[int, str]]
) -> None:
    problems = _problems(text)
    assert [(p.line, p.file) for p in problems] == [(line, SOURCE) for line, _ in expected]
    for problem, (_, fragment) in zip(problems, expected, strict=True):
        assert fragment in str(problem)


def test_error_table_is_broad() -> None:
    assert len(ERRORS) >= 25


def test_all_problems_are_reported_in_one_pass() -> None:
    problems = _problems(
        """\
        version: 2
        mode: monitor
        extra: 1
        destinations:
          - host: "*"
            ports: ["443"]
          - host: example.com
            inspect: false
            paths: [/v1]
          - id: dup
            host: a.example
          - id: dup
            host: b.example
        network:
          allow_private: [10.0.0.1/8]
        """
    )
    assert [p.line for p in problems] == [1, 3, 5, 6, 9, 12, 15]


def test_error_text_is_one_line_per_problem() -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rules_text("version: 2\nmode: x\n", "a.yaml")
    assert str(caught.value).splitlines() == [
        "a.yaml:1: version: unsupported rule file version 2; this Glassbreak reads version 1 "
        "(fix: set version: 1)",
        "a.yaml:2: mode: expected 'enforce' or 'monitor', got 'x'",
    ]


def test_rule_file_error_is_a_value_error() -> None:
    assert issubclass(RuleFileError, ValueError)


# --- files on disk ---------------------------------------------------------------------------


def test_non_utf8_file_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\n# caf\xe9\n")
    with pytest.raises(RuleFileError) as caught:
        load_rules(path)
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == (str(path), 2)
    assert "not valid UTF-8" in problem.message


def test_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"version: 1\n" + b"#" * MAX_RULE_FILE_BYTES + b"\n")
    with pytest.raises(RuleFileError, match="larger than 1048576 bytes"):
        load_rules(path)
    with pytest.raises(RuleFileError, match="larger than"):
        load_rules_text("version: 1\n" + "#" * MAX_RULE_FILE_BYTES, "big")


def test_missing_file_is_a_rule_file_error(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="cannot read the file"):
        load_rules(tmp_path / "absent.yaml")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfversion: 1\n")
    assert load_rules(path).version == 1


def test_source_is_the_path(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("version: 1\n")
    assert load_rules(path).source == str(path)


# --- hostile input never escapes as another exception ----------------------------------------


def _outcome(load: Callable[[], Policy]) -> str:
    """"loaded" or "refused"; any exception other than RuleFileError fails the test."""
    try:
        load()
    except RuleFileError:
        return "refused"
    return "loaded"


def test_random_bytes_only_ever_raise_rule_file_error(tmp_path: Path) -> None:
    rng = random.Random(20240601)
    outcomes: set[str] = set()
    path = tmp_path / "fuzz.yaml"
    # Mostly YAML punctuation, so the parser gets deep before it fails, plus arbitrary bytes.
    alphabet = b"version: 1\n- {}[],&*!|>'\"%@`#?<<~ \t\x00\x1b\xc3\xa9\xff"
    for _ in range(300):
        size = rng.randrange(120)
        if rng.random() < 0.5:
            data = bytes(rng.choice(alphabet) for _ in range(size))
        else:
            data = rng.randbytes(size)
        path.write_bytes(data)
        outcomes.add(_outcome(partial(load_rules, path)))
    assert "refused" in outcomes


def test_truncated_rule_files_only_ever_raise_rule_file_error() -> None:
    rng = random.Random(7)
    text = (RULES_DIR / "examples" / "coding-agent.yaml").read_text()
    cuts = [rng.randrange(len(text)) for _ in range(300)]
    outcomes = {_outcome(partial(load_rules_text, text[:cut], "truncated")) for cut in cuts}
    assert outcomes == {"loaded", "refused"}


@pytest.mark.parametrize("text", ["[" * 5000, "- " * 5000 + "x", "{a: " * 2000])
def test_deep_nesting_is_a_rule_file_error(text: str) -> None:
    with pytest.raises(RuleFileError):
        load_rules_text(text, "deep")


# --- check_rules -----------------------------------------------------------------------------


def test_check_rules_ok(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("version: 1\ndestinations:\n  - host: a.example\n  - host: b.example\n")
    assert check_rules(path) == (0, f"{path}: ok (2 destinations)")


def test_check_rules_reports_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\ndestinations:\n  - host: example.com\n    port: 443\n")
    code, text = check_rules(path)
    assert code == 1
    assert text == f"{path}:4: unknown key 'port' (fix: did you mean 'ports'?)"


def test_check_rules_on_a_missing_file(tmp_path: Path) -> None:
    code, text = check_rules(tmp_path / "absent.yaml")
    assert code == 1
    assert "cannot read the file" in text


# --- the shipped rule files ------------------------------------------------------------------

SHIPPED = sorted(RULES_DIR.rglob("*.yaml"))


def test_shipped_rule_files_exist() -> None:
    names = {path.relative_to(RULES_DIR).as_posix() for path in SHIPPED}
    assert {
        "default.yaml",
        "examples/coding-agent.yaml",
        "examples/llm-only.yaml",
        "examples/monitor-rollout.yaml",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_rule_file_loads(path: Path) -> None:
    policy = load_rules(path)
    assert policy.destinations
    assert check_rules(path)[0] == 0


def test_default_rules_are_enforced_and_conservative() -> None:
    policy = load_rules(DEFAULT_RULES_PATH)
    assert policy.mode is Mode.ENFORCE
    assert all(d.mode is Mode.ENFORCE for d in policy.destinations)
    assert not policy.network.allow_private
    for destination in policy.destinations:
        assert destination.ports == frozenset({443}), destination.id
        assert destination.schemes == frozenset({"https"}), destination.id
        assert not destination.raw_tcp, destination.id
        assert not any(pattern.suffix for pattern in destination.hosts), destination.id
    api = policy.destination("github-api")
    assert api is not None and api.methods == frozenset({"GET", "HEAD"})


def test_coding_agent_example_denies_gists_for_good() -> None:
    policy = load_rules(RULES_DIR / "examples" / "coding-agent.yaml")
    gists = policy.destination("no-gists")
    assert gists is not None
    assert (gists.effect, gists.final) == (Effect.DENY, True)
    assert gists.matches_host("gist.github.com")
    llm = policy.destination("anthropic")
    assert llm is not None
    assert (llm.methods, llm.paths) == (frozenset({"POST"}), ("/v1/messages",))
