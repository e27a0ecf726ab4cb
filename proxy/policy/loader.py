"""Read a rule file into a compiled `Policy`, or refuse it with every problem and its line number.

YAML is composed into nodes (not loaded) so each value keeps its line; the schema
(proxy/policy/schema.py) says what is valid; this module says where, and builds the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from pathlib import Path
from types import MappingProxyType

import yaml

from proxy.policy.dns_model import (
    ALL_CLIENTS_FACTOR,
    RECORD_TYPES,
    BlockedRcode,
    DnsPolicy,
    ExtraTypes,
    TunnelAction,
    TunnellingPolicy,
    UpstreamResolver,
)
from proxy.policy.dns_schema import DnsSpec, parse_upstream
from proxy.policy.hosts import HostPattern, normalise_host
from proxy.policy.model import (
    DEFAULT_PORTS,
    DEFAULT_SCHEMES,
    Destination,
    Effect,
    FindingAction,
    InspectionOverrides,
    InspectionPolicy,
    IPAddress,
    LocationAction,
    Mode,
    NetworkPolicy,
    Oversize,
    Policy,
)
from proxy.policy.schema import (
    DestinationInspectionSpec,
    DestinationSpec,
    InspectionSpec,
    Issue,
    Loc,
    NetworkSpec,
    RuleFileSpec,
    default_id,
    validate_rules,
)

DEFAULT_RULES_PATH = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"
MAX_RULE_FILE_BYTES = 1024 * 1024
# Rule files are a few levels deep; a deeper document is a mistake or an attack on the parser.
MAX_NESTING = 32

_TAG = "tag:yaml.org,2002:"
# A plain decimal integer. YAML 1.1 also reads 0x1bb, 0443 (octal!) and 1:30 (sexagesimal) as
# integers; those stay text here, so that a port is never silently something else.
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")


@dataclass(frozen=True)
class Problem:
    """One problem in a rule file, at a 1-based line, with a suggested fix when there is one."""

    file: str
    line: int
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        suffix = f" (fix: {self.fix})" if self.fix else ""
        return f"{self.file}:{self.line}: {self.message}{suffix}"


class RuleFileError(ValueError):
    """A rule file that cannot be used; `problems` lists every problem found, in line order."""

    def __init__(self, problems: list[Problem]) -> None:
        unique = dict.fromkeys(problems)  # keeps the first of identical reports
        self.problems: list[Problem] = sorted(unique, key=lambda p: p.line)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def load_rules(path: str | Path) -> Policy:
    """Load and compile the rule file at `path`; raises RuleFileError, never anything else."""
    source = str(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_RULE_FILE_BYTES + 1)
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        problem = Problem(source, 1, f"cannot read the file: {reason}")
        raise RuleFileError([problem]) from None
    return load_rules_text(_decode(data, source), source)


def load_rules_text(text: str, source: str) -> Policy:
    """Load and compile rule file text; `source` names it in problems and in the Policy."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_RULE_FILE_BYTES:
        raise _too_large(source)
    root = _compose(text, source)
    tree = _Tree(source)
    data = tree.convert(root, ())
    if tree.problems:
        raise RuleFileError(tree.problems)
    if not isinstance(data, dict):
        raise RuleFileError([Problem(
            source, tree.lines.get((), 1),
            f"the top level must be a mapping of keys (version, mode, network, destinations), "
            f"got {_kind(root)}",
            "start the file with version: 1",
        )])
    spec, issues = validate_rules(data)
    if spec is None:
        raise RuleFileError([tree.problem(issue) for issue in issues])
    return _compile(spec, tree.lines, source)


def _too_large(source: str) -> RuleFileError:
    return RuleFileError([Problem(
        source, 1, f"the file is larger than {MAX_RULE_FILE_BYTES} bytes",
        "split it up or remove what is not needed; rule files are small",
    )])


def _decode(data: bytes, source: str) -> str:
    if len(data) > MAX_RULE_FILE_BYTES:
        raise _too_large(source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RuleFileError([Problem(
            source, line, "the file is not valid UTF-8", "save the file as UTF-8",
        )]) from None


# --- YAML ----------------------------------------------------------------------------------


class _RuleLoader(yaml.SafeLoader):
    """A SafeLoader that reports anchors and aliases instead of sharing nodes between keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_problems: list[tuple[int, str]] = []

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # Aliases make one edit change several rules unseen, and alias bombs blow up memory.
        if self.check_event(yaml.AliasEvent):
            event = self.get_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
            self.alias_problems.append((event.start_mark.line + 1, f"alias *{event.anchor}"))
            return yaml.ScalarNode(f"{_TAG}null", "", event.start_mark, event.end_mark)
        event = self.peek_event()  # type: ignore[no-untyped-call]
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.alias_problems.append((event.start_mark.line + 1, f"anchor &{anchor}"))
            event.anchor = None  # not registered: every alias to it is reported, not resolved
        return super().compose_node(parent, index)


def _compose(text: str, source: str) -> yaml.Node:
    loader: _RuleLoader | None = None
    try:
        loader = _RuleLoader(text)  # the reader refuses control characters already here
        root = loader.get_single_node()
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        problem = Problem(source, line, f"the file contains the control character "
                          f"U+{error.character:04X}", "remove it")
        raise RuleFileError([problem]) from None
    except yaml.MarkedYAMLError as error:
        raise RuleFileError([_yaml_problem(error, source)]) from None
    except yaml.YAMLError as error:
        raise RuleFileError([Problem(source, 1, f"invalid YAML: {error}")]) from None
    except RecursionError:
        raise RuleFileError([Problem(source, 1, "the YAML is nested too deeply")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    problems = [
        Problem(source, line, f"YAML {what} is not allowed in rule files",
                "write the value out in full where it is used")
        for line, what in loader.alias_problems
    ]
    if problems:
        raise RuleFileError(problems)
    if root is None:
        raise RuleFileError([Problem(source, 1, "the file is empty", "start it with version: 1")])
    return root


def _yaml_problem(error: yaml.MarkedYAMLError, source: str) -> Problem:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else 1
    parts = [part for part in (error.context, error.problem) if part]
    fix = None
    if error.context == "while scanning an alias":
        # The usual cause: an unquoted host pattern, which YAML reads as an alias.
        fix = "quote host patterns that start with '*', as in \"*.example.com\""
    return Problem(source, line, "invalid YAML: " + (", ".join(parts) or "cannot parse"), fix)


@dataclass
class _Tree:
    """Turns YAML nodes into plain data, recording the line of every key path on the way."""

    source: str
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def convert(self, node: yaml.Node, loc: Loc) -> object:
        self.lines.setdefault(loc, _line(node))
        if len(loc) > MAX_NESTING:
            self._add(node, "the YAML is nested too deeply")
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != f"{_TAG}seq":
                self._add(node, f"YAML tag {_short_tag(node.tag)} is not supported in rule files")
            return [self.convert(item, (*loc, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def problem(self, issue: Issue) -> Problem:
        return Problem(self.source, self.line_of(issue.loc), issue.message, issue.fix)

    def line_of(self, loc: Loc) -> int:
        """The line of the deepest part of `loc` the file has (a missing key: its mapping)."""
        path: Loc = ()
        line = self.lines.get((), 1)
        for part in loc:
            # Parts the file does not have (pydantic's "[key]", a missing key) are skipped.
            if (*path, part) in self.lines:
                path = (*path, part)
                line = self.lines[path]
        return line

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, object]:
        if node.tag != f"{_TAG}map":
            self._add(node, f"YAML tag {_short_tag(node.tag)} is not supported in rule files")
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_TAG}merge":
                self._add(key_node, "YAML merge keys (<<) are not allowed in rule files",
                          "write the keys out in full")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._add(key_node, "a key must be plain text, not a list or mapping")
                continue
            key = str(key_node.value)
            if key in result:
                first = self.lines[(*loc, key)]
                self._add(key_node, f"duplicate key {key!r} (first on line {first})",
                          "keep one of them")
                continue
            self.lines[(*loc, key)] = _line(key_node)
            result[key] = self.convert(value_node, (*loc, key))
        return result

    def _scalar(self, node: yaml.Node) -> object:
        tag, text = node.tag, str(node.value)
        if tag == f"{_TAG}null":
            return None
        if tag == f"{_TAG}bool":
            # "yes", "on", "no", "off" stay text, as in YAML 1.2; the schema refuses them as bools.
            return {"true": True, "false": False}.get(text.lower(), text)
        if tag == f"{_TAG}int":
            return int(text) if _DECIMAL.fullmatch(text) else text
        if tag == f"{_TAG}float":
            return _float_or_text(text)
        if tag in (f"{_TAG}str", f"{_TAG}timestamp", f"{_TAG}value", f"{_TAG}merge"):
            return text
        self._add(node, f"YAML tag {_short_tag(tag)} is not supported in rule files",
                  "remove the tag")
        return None

    def _add(self, node: yaml.Node, message: str, fix: str | None = None) -> None:
        self.problems.append(Problem(self.source, _line(node), message, fix))


def _line(node: yaml.Node) -> int:
    mark = node.start_mark
    return mark.line + 1 if mark is not None else 1


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _float_or_text(text: str) -> float | str:
    try:
        return float(text.replace("_", ""))
    except ValueError:  # sexagesimal "1:30.5" and friends
        return text


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"the value {str(node.value)[:40]!r}"


# --- compiling -----------------------------------------------------------------------------


def _compile(spec: RuleFileSpec, lines: dict[Loc, int], source: str) -> Policy:
    mode = Mode(spec.mode)
    destinations = tuple(
        _compile_destination(destination, index, mode, lines.get(("destinations", index), 0))
        for index, destination in enumerate(spec.destinations)
    )
    return Policy(
        version=spec.version,
        mode=mode,
        destinations=destinations,
        network=_compile_network(spec.network),
        inspection=_compile_inspection(spec.inspection),
        dns=_compile_dns(spec.dns),
        source=source,
    )


def _compile_destination(spec: DestinationSpec, index: int, mode: Mode, line: int) -> Destination:
    names = [spec.host] if spec.host is not None else (spec.hosts or [])
    patterns = {pattern.text: pattern for pattern in map(HostPattern.parse, names)}
    effect = Effect(spec.action)
    # A deny entry without `ports` denies every port: a deny that a port number dodges is no deny.
    default_ports = DEFAULT_PORTS if effect is Effect.ALLOW else None
    return Destination(
        id=spec.id or default_id(index),
        effect=effect,
        hosts=tuple(patterns.values()),
        cidrs=tuple(dict.fromkeys(ip_network(text) for text in spec.cidrs or [])),
        ports=frozenset(spec.ports) if spec.ports is not None else default_ports,
        schemes=frozenset(spec.schemes) if spec.schemes is not None else DEFAULT_SCHEMES,
        methods=frozenset(spec.methods) if spec.methods is not None else None,
        paths=tuple(dict.fromkeys(spec.paths)) if spec.paths is not None else None,
        inspect=spec.inspect,
        raw_tcp=spec.raw_tcp,
        mode=Mode(spec.mode) if spec.mode is not None else mode,
        final=spec.final,
        inspection=_compile_overrides(spec.inspection),
        line=line,
    )


def _compile_inspection(spec: InspectionSpec) -> InspectionPolicy:
    return InspectionPolicy(
        enabled=spec.enabled,
        max_depth=spec.max_depth,
        max_body_bytes=spec.max_body_bytes,
        oversize=Oversize(spec.oversize),
        actions=MappingProxyType({k: FindingAction(v) for k, v in spec.actions.items()}),
        pii_thresholds=MappingProxyType(dict(spec.pii_thresholds)),
        exempt_hashes=frozenset(spec.exempt_hashes),
        clean_cache_entries=spec.clean_cache_entries,
        cpu_seconds_per_mib=spec.cpu_seconds_per_mib,
    )


def _compile_overrides(spec: DestinationInspectionSpec | None) -> InspectionOverrides:
    if spec is None:
        return InspectionOverrides()
    return InspectionOverrides(
        location_actions=tuple(
            LocationAction(key=item.detector, locations=tuple(dict.fromkeys(item.locations)),
                           action=FindingAction(item.action))
            for item in spec.location_actions),
        actions=MappingProxyType({k: FindingAction(v) for k, v in spec.actions.items()}),
        max_body_bytes=spec.max_body_bytes,
        oversize=Oversize(spec.oversize) if spec.oversize is not None else None,
    )


def _compile_network(spec: NetworkSpec) -> NetworkPolicy:
    hosts: dict[str, tuple[IPAddress, ...]] = {
        normalise_host(name): tuple(dict.fromkeys(ip_address(a) for a in addresses))
        for name, addresses in spec.hosts.items()
    }
    return NetworkPolicy(
        allow_private=tuple(dict.fromkeys(ip_network(text) for text in spec.allow_private)),
        hosts=MappingProxyType(hosts),
    )


def _compile_dns(spec: DnsSpec) -> DnsPolicy:
    upstreams = []
    for text in spec.upstreams:
        host, port = parse_upstream(text)
        upstreams.append(UpstreamResolver(address=ip_address(host), port=port))
    t = spec.tunnelling
    return DnsPolicy(
        upstreams=tuple(dict.fromkeys(upstreams)),
        blocked_rcode=BlockedRcode(spec.blocked_rcode),
        record_types=frozenset(RECORD_TYPES[name] for name in spec.record_types),
        extra_types=tuple(
            ExtraTypes(hosts=tuple(map(HostPattern.parse, extra.hosts)),
                       types=frozenset(RECORD_TYPES[name] for name in extra.types))
            for extra in spec.extra_types
        ),
        timeout_seconds=spec.timeout_seconds,
        cache_entries=spec.cache_entries,
        max_ttl=spec.max_ttl,
        min_ttl=spec.min_ttl,
        negative_ttl=spec.negative_ttl,
        client_qps=spec.client_qps,
        client_burst=spec.client_burst,
        tunnelling=TunnellingPolicy(
            action=TunnelAction(t.action), block_seconds=t.block_seconds,
            window_seconds=t.window_seconds, max_label_length=t.max_label_length,
            max_name_length=t.max_name_length, encoded_min_length=t.encoded_min_length,
            entropy_min_length=t.entropy_min_length, max_label_entropy=t.max_label_entropy,
            max_unique_subdomains=t.max_unique_subdomains, max_queries=t.max_queries,
            long_window_seconds=t.long_window_seconds,
            max_unique_subdomains_long=t.max_unique_subdomains_long,
            max_txt_share=t.max_txt_share, txt_share_min_queries=t.txt_share_min_queries,
            max_forwarded=t.max_forwarded, max_forwarded_long=t.max_forwarded_long,
            all_clients_max_unique_subdomains=_all_clients(
                t.all_clients_max_unique_subdomains, t.max_unique_subdomains),
            all_clients_max_unique_subdomains_long=_all_clients(
                t.all_clients_max_unique_subdomains_long, t.max_unique_subdomains_long),
            all_clients_max_forwarded=_all_clients(t.all_clients_max_forwarded, t.max_forwarded),
            all_clients_max_forwarded_long=_all_clients(
                t.all_clients_max_forwarded_long, t.max_forwarded_long),
        ),
    )


def _all_clients(value: int | None, per_client: int) -> int:
    """An all-clients threshold as written, else ALL_CLIENTS_FACTOR clients' worth."""
    return value if value is not None else ALL_CLIENTS_FACTOR * per_client


__all__ = [
    "DEFAULT_RULES_PATH",
    "MAX_RULE_FILE_BYTES",
    "Problem",
    "RuleFileError",
    "load_rules",
    "load_rules_text",
]
