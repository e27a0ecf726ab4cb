"""One DNS question from packet to answer: fairness, parsing, detection, decision, answer, audit.

Transport-free (proxy/dns/server.py owns the sockets): `handle` gets the packet and a `reply`
callback. Questions answered from `network.hosts`, the cache or a refusal are answered before
`handle` returns; only questions that must go upstream become a task. Every question gets one
audit line; datagrams dropped by the per-client limit get one summary line per client and second.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from dnslib import QTYPE

from proxy.audit.log import AuditLog
from proxy.audit.record import DnsAuditRecord
from proxy.dns.answers import (
    answer_records,
    describe,
    pack_records,
    static_records,
    unsafe_answer,
)
from proxy.dns.cache import AnswerCache
from proxy.dns.decide import DnsDecision, DnsFacts, decide_dns
from proxy.dns.label_runs import base64_label_runs
from proxy.dns.limits import ClientBuckets
from proxy.dns.names import name_info, presentation
from proxy.dns.scope import Scope, detection_scope, wildcard_patterns
from proxy.dns.secrets_in_names import FindSecrets, scanned_characters, secret_labels
from proxy.dns.tunnelling import (
    ALL_CLIENTS_SIGNALS,
    WINDOW_SIGNALS,
    Signal,
    label_signals,
    query_signals,
)
from proxy.dns.upstream import Forwarder, UpstreamError
from proxy.dns.windows import TunnelDetector
from proxy.dns.wire import (
    NOERROR,
    RCODE_NAMES,
    REFUSED,
    SERVFAIL,
    TCP_LIMIT,
    Query,
    WireError,
    error_response,
    parse_query,
    response,
)
from proxy.policy.dns_model import TunnelAction
from proxy.policy.model import Policy
from proxy.policy.reasons import Action, Reason

MAX_CLIENT_PENDING = 32  # questions of one client waiting for an upstream at once
DROP_SUMMARY_SECONDS = 1.0
SIGNAL_CACHE_SIZE = 8192
MAX_DROP_CLIENTS = 4096
# What a name costs its client beyond its one token, when its facts are computed (a name not
# seen lately): one token per this many characters of joined labels scanned for secrets, and per
# this many labels. Measured (cpu_probe, one core): an ordinary name costs about 0.13 ms, a
# 250-byte name of 31 hyphenated labels (13,000 characters scanned) about 1 ms, 127 one-letter
# labels about 0.6 ms: the charge keeps each within its share of client_qps.
SCAN_CHARACTERS_PER_TOKEN = 2048
LABELS_PER_TOKEN = 32

Reply = Callable[[bytes], None]
OnQuery = Callable[[str, str], None]  # (decision, reason), for metrics
OnDetection = Callable[[str], None]  # (signal), for metrics and escalations


@dataclass(frozen=True)
class DnsHooks:
    on_query: OnQuery | None = None
    on_detection: OnDetection | None = None


@dataclass(frozen=True)
class _Question:
    """A parsed question on its way to an answer."""

    query: Query
    client: str
    limit: int  # the largest answer the client takes on this transport
    record: DnsAuditRecord
    reply: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class _NameFacts:
    scope: Scope
    signals: tuple[Signal, ...]  # this query's own tunnelling signals
    secret_in: dict[int, str]  # index of each label a detector's value covers -> detector
    cost: int  # tokens beyond the question's own that computing these facts is charged


class DnsService:
    def __init__(self, policy: Policy, audit: AuditLog | None, *,
                 hooks: DnsHooks | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 scrub: Callable[[str], str] | None = None,
                 find_secrets: FindSecrets | None = None,
                 credentials: frozenset[str] = frozenset()) -> None:
        """`find_secrets` finds detectors' values in labels (to mask them in the log);
        `credentials`, the ids of those detectors whose value in a name refuses the name."""
        dns = policy.dns
        self.policy = policy
        self._audit = audit
        self._hooks = hooks or DnsHooks()
        self._clock = clock
        self._scrub = scrub
        self._find_secrets = find_secrets
        self._credentials = credentials
        self._wildcards = wildcard_patterns(policy)
        self.detector = TunnelDetector(dns.tunnelling, clock)
        self.cache = AnswerCache(dns.cache_entries, clock)
        self.forwarder = Forwarder(dns.upstreams, dns.timeout_seconds)
        self._buckets = ClientBuckets(dns.client_qps, dns.client_burst, clock)
        self._pending: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._names: dict[tuple[bytes, ...], _NameFacts] = {}  # by labels, see _name_facts
        self._drops: dict[tuple[str, str], list[float]] = {}  # -> [count, first drop]

    # --- the entry point -------------------------------------------------------------------

    def handle(self, data: bytes, client: str, transport: str, reply: Reply) -> bool:
        """Answer one packet through `reply`, now or once an upstream answered.

        False when nothing will be answered: the packet was dropped.
        """
        started = time.time()
        if not self._buckets.take(client):
            self._note_drop(client, transport, started)
            return False
        try:
            query = parse_query(data)
        except WireError as error:
            return self._malformed(error, client, transport, started, reply)
        try:
            return self._question(query, client, transport, started, reply)
        except Exception:  # fail closed: a bug answers SERVFAIL, never the question
            limit = TCP_LIMIT if transport == "tcp" else query.udp_limit()
            record = DnsAuditRecord(
                request_id=secrets.token_hex(8), client=client, transport=transport, name=None,
                qtype=_type_name(query.qtype), decision=Action.BLOCK.value,
                reason=Reason.INTERNAL_ERROR.value, started=started)
            self._send(reply, response(query, SERVFAIL, limit=limit), record, SERVFAIL)
            return True

    def _question(self, query: Query, client: str, transport: str, started: float,
                  reply: Reply) -> bool:
        limit = TCP_LIMIT if transport == "tcp" else query.udp_limit()
        info = name_info(query.labels)
        # Only a name the rules would send upstream gets a window or causes a block: a refused
        # name discloses nothing, and must not let a client churn the detector's tables.
        forwardable = info.host is not None and decide_dns(
            DnsFacts(host=info.host, qtype=query.qtype), self.policy).forward
        name, computed = self._name_facts(query.labels)
        if computed:
            self._buckets.charge(client, name.cost)
        scope, secret_in = name.scope, name.secret_in
        secret = not self._credentials.isdisjoint(secret_in.values())
        forwarded = forwardable and info.host is not None and self._goes_upstream(
            info.host, query.qtype)
        signals = self._detect(name, query, client, forwardable=forwardable,
                               forwarded=forwarded, secret=secret)
        facts = DnsFacts(host=info.host, qtype=query.qtype, signals=tuple(signals),
                         client_blocked=self.detector.blocked(client, scope.key),
                         key_blocked=self.detector.key_blocked(scope.key), secret=secret)
        decision = decide_dns(facts, self.policy)
        record = DnsAuditRecord(
            request_id=secrets.token_hex(8), client=client, transport=transport,
            name=self._logged_name(query, scope, signals, secret_in,
                                   payload=facts.client_blocked or facts.key_blocked),
            qtype=_type_name(query.qtype),
            decision=_decision_text(decision), reason=decision.reason.value,
            rule=decision.rule_id, signals=[s.value for s in signals], started=started,
        )
        if not decision.answer or info.host is None:
            self._send(reply, response(query, decision.rcode, limit=limit), record,
                       decision.rcode)
            return True
        self._answer(_Question(query, client, limit, record, reply), info.host, decision)
        return True

    async def drain(self) -> None:
        """Wait for the questions that are still with an upstream (for a clean shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- answering -------------------------------------------------------------------------

    def _answer(self, question: _Question, host: str, decision: DnsDecision) -> None:
        query, client, limit = question.query, question.client, question.limit
        record, reply = question.record, question.reply
        static = self.policy.network.hosts.get(host)
        if static is not None:
            records = static_records(host, query.qtype, static)
            record.answers = describe(records)
            self._send(reply, response(query, NOERROR, pack_records(host, query.qtype, records),
                                       len(records), limit=limit), record, NOERROR)
            return
        cached = self.cache.get(host, query.qtype)
        if cached is not None:
            packed, count = cached.packed(self._clock())
            record.answers = describe(cached.records)
            self._send(reply, response(query, cached.rcode, packed, count, limit=limit), record,
                       cached.rcode)
            return
        if not decision.forward:
            # Monitor mode, a name no rule names: logged as would_block, never disclosed upstream.
            self._send(reply, response(query, decision.rcode, limit=limit), record,
                       decision.rcode)
            return
        if not self.forwarder.configured:
            record.reason = Reason.RESOLUTION_FAILED.value
            record.decision = Action.BLOCK.value
            self._send(reply, response(query, SERVFAIL, limit=limit), record, SERVFAIL)
            return
        if self._pending.get(client, 0) >= MAX_CLIENT_PENDING:
            record.reason = Reason.DNS_RATE_LIMITED.value
            record.decision = Action.BLOCK.value
            self._send(reply, response(query, REFUSED, limit=limit), record, REFUSED)
            return
        self._pending[client] = self._pending.get(client, 0) + 1
        task = asyncio.get_running_loop().create_task(
            self._forward(question, host))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward(self, question: _Question, host: str) -> None:
        query, client, limit = question.query, question.client, question.limit
        record, reply = question.record, question.reply
        try:
            record.forwarded = True
            try:
                answer = await self.forwarder.resolve(host, query.qtype)
            except UpstreamError:
                record.reason = Reason.RESOLUTION_FAILED.value
                record.decision = Action.BLOCK.value
                self._send(reply, response(query, SERVFAIL, limit=limit), record, SERVFAIL)
                return
            rcode = int(answer.response.header.rcode)
            records = answer_records(answer.response, host, query.qtype)
            unsafe = unsafe_answer(records, self.policy.network.allow_private)
            if unsafe is not None:
                blocked = self._blocked_rcode()
                record.reason, record.decision = unsafe.value, Action.BLOCK.value
                record.answers = describe(records)  # what was dropped, for the investigation
                self._send(reply, response(query, blocked, limit=limit), record, blocked)
                return
            dns = self.policy.dns
            # A positive answer is kept at least min_ttl, whatever the zone says (TTL 0
            # included): repeats are then answered here, and never reach the zone's server.
            ttl = (max(min([r.ttl for r in records] + [dns.max_ttl]), dns.min_ttl) if records
                   else dns.negative_ttl)
            self.cache.put(host, query.qtype, rcode, records, ttl)
            cached = self.cache.get(host, query.qtype)
            if cached is not None:
                packed, count = cached.packed(self._clock())
            else:  # ttl 0 (min_ttl 0) or cache off: answer as received
                packed, count = pack_records(host, query.qtype, records), len(records)
            record.answers = describe(records)
            self._send(reply, response(query, rcode, packed, count, limit=limit), record, rcode)
        except Exception:  # fail closed: whatever broke, the client gets SERVFAIL and a line
            record.reason, record.decision = Reason.INTERNAL_ERROR.value, Action.BLOCK.value
            self._send(reply, response(query, SERVFAIL, limit=limit), record, SERVFAIL)
        finally:
            left = self._pending.get(client, 1) - 1
            if left > 0:
                self._pending[client] = left
            else:
                self._pending.pop(client, None)

    def _blocked_rcode(self) -> int:
        return decide_dns(DnsFacts(host=None, qtype=1), self.policy).rcode

    def _send(self, reply: Reply, wire: bytes, record: DnsAuditRecord, rcode: int) -> None:
        record.rcode = RCODE_NAMES.get(rcode, str(rcode))
        # The line is written before the answer leaves: a client that got an answer can count on
        # its line being there.
        try:
            self._write(record)
        finally:
            reply(wire)

    # --- detection -------------------------------------------------------------------------

    def _name_facts(self, labels: tuple[bytes, ...]) -> tuple[_NameFacts, bool]:
        """What the name alone says (scope, per-query signals, credentials in its labels),
        remembered per name: most questions repeat one. True when computed now."""
        facts = self._names.get(labels)
        computed = facts is None
        if facts is None:
            scope = detection_scope(labels, name_info(labels), self._wildcards)
            name_length = sum(len(label) + 1 for label in labels)
            facts = _NameFacts(
                scope=scope,
                signals=query_signals(scope.chosen, name_length, self.policy.dns.tunnelling),
                # every label, not only the chosen ones: a key split into the registered
                # domain of a refused name (`ghp_<20>.<16>`) must not reach the log either
                secret_in=({} if self._find_secrets is None
                           else secret_labels(labels, self._find_secrets)),
                cost=_name_cost(labels, scanned=self._find_secrets is not None),
            )
            if len(self._names) >= SIGNAL_CACHE_SIZE:
                self._names.clear()
            self._names[labels] = facts
        return facts, computed

    def _goes_upstream(self, host: str, qtype: int) -> bool:
        """Whether an answered question would be forwarded: not in `network.hosts`, not in the
        cache. (Two questions for one name in flight at once both count, although the forwarder
        sends the name once: counting more errs on the side of detecting.)"""
        return (self.forwarder.configured and host not in self.policy.network.hosts
                and self.cache.get(host, qtype) is None)

    def _detect(self, name: _NameFacts, query: Query, client: str, *, forwardable: bool,
                forwarded: bool, secret: bool) -> list[Signal]:
        policy = self.policy.dns.tunnelling
        blocking = policy.action is TunnelAction.BLOCK
        scope = name.scope
        windowed: tuple[Signal, ...] = ()
        if forwardable:
            windowed = self.detector.observe(
                client, scope.key, scope.subdomain, query.qtype, forwarded=forwarded,
                refused=secret or (blocking and bool(name.signals)))
        signals = list(dict.fromkeys(name.signals + windowed))
        if signals:
            if blocking and forwardable:
                self.detector.block(client, scope.key)
                if not ALL_CLIENTS_SIGNALS.isdisjoint(signals):
                    self.detector.block_key(scope.key)
            if self._hooks.on_detection is not None:
                for signal in signals:
                    self._hooks.on_detection(signal.value)
        return signals

    def _logged_name(self, query: Query, scope: Scope, signals: list[Signal],
                     secret_in: dict[int, str], *, payload: bool) -> str:
        """The name for the audit log, with labels that look like a payload masked.

        `<secret>.attacker.example` must not put the secret in the log, nor must a secret split
        over several short labels (`ghp_A1b2.C3d4....attacker.example`): `secret_in` is
        _NameFacts.secret_in. When the client's traffic to the domain is a tunnel (a window
        signal, or `payload`: the client is blocked for it), every label it chose is masked:
        short chunks of a payload raise no signal of their own. Mixed-case base64 cut into
        labels too short to raise a signal is masked as well (proxy/dns/label_runs.py).
        """
        labels = query.labels
        masked: list[str | None] = [None] * len(labels)
        windowed = payload or not WINDOW_SIGNALS.isdisjoint(signals)
        if signals or windowed:
            policy = self.policy.dns.tunnelling
            for index, label in enumerate(scope.chosen):
                if windowed or label_signals(label, policy):
                    masked[index] = f"[payload:{len(label)}]"
        for index, detector in secret_in.items():
            if masked[index] is None:
                masked[index] = f"[REDACTED:{detector}]"
        for index in base64_label_runs(scope.chosen, self.policy.dns.tunnelling.encoded_min_length):
            if masked[index] is None:
                masked[index] = f"[payload:{len(labels[index])}]"
        name = ".".join(m if m is not None else _plain(label)
                        for m, label in zip(masked, labels, strict=True)) + "." if labels else "."
        return self._scrub(name) if self._scrub is not None else name

    # --- malformed and dropped -------------------------------------------------------------

    def malformed_frame(self, client: str, transport: str) -> None:
        """A stream that is not DNS framing (a TCP length prefix no query has, a message cut
        short): one `dns_malformed` line, no byte of it, counted as a malformed packet is. The
        caller closes the connection; the client's rate bucket pays for the line."""
        started = time.time()
        if not self._buckets.take(client):
            self._note_drop(client, transport, started)
            return
        self._write(_malformed_record(client, transport, started))

    def _malformed(self, error: WireError, client: str, transport: str, started: float,
                   reply: Reply) -> bool:
        record = _malformed_record(client, transport, started)
        if error.query_id is None:
            self._write(record)  # not answered: a response, or not even a header
            return False
        self._send(reply, error_response(error.query_id, error.flags, error.rcode), record,
                   error.rcode)
        return True

    def _note_drop(self, client: str, transport: str, now: float) -> None:
        """Count a dropped datagram; one summary line per client at most every second."""
        if self._hooks.on_query is not None:
            self._hooks.on_query("drop", Reason.DNS_RATE_LIMITED.value)
        key = (client, transport)
        entry = self._drops.get(key)
        if entry is None:
            if len(self._drops) >= MAX_DROP_CLIENTS:
                self._flush_drops(now, force=True)
            # The first drop is logged at once, so that a flood shows up without delay.
            self._drops[key] = [0.0, now]
            self._drop_line(client, transport, 1, now)
            return
        entry[0] += 1
        if now - entry[1] >= DROP_SUMMARY_SECONDS:
            self._drop_line(client, transport, int(entry[0]), entry[1])
            entry[0], entry[1] = 0.0, now

    def _flush_drops(self, now: float, *, force: bool) -> None:
        for (client, transport), (count, since) in list(self._drops.items()):
            if force or now - since >= DROP_SUMMARY_SECONDS:
                del self._drops[(client, transport)]
                if count:
                    self._drop_line(client, transport, int(count), since)

    def _drop_line(self, client: str, transport: str, count: int, since: float) -> None:
        self._write(DnsAuditRecord(
            request_id=secrets.token_hex(8), client=client, transport=transport, name=None,
            qtype=None, decision=Action.BLOCK.value, reason=Reason.DNS_RATE_LIMITED.value,
            dropped=count, started=since,
        ), hook=False)

    def _write(self, record: DnsAuditRecord, *, hook: bool = True) -> None:
        if hook and self._hooks.on_query is not None:
            self._hooks.on_query(record.decision, record.reason)
        if self._audit is not None:
            self._audit.write(record)

    def close(self) -> None:
        self._flush_drops(time.time(), force=True)


def _name_cost(labels: tuple[bytes, ...], *, scanned: bool) -> int:
    characters = scanned_characters(labels) if scanned else 0
    return characters // SCAN_CHARACTERS_PER_TOKEN + len(labels) // LABELS_PER_TOKEN


def _malformed_record(client: str, transport: str, started: float) -> DnsAuditRecord:
    return DnsAuditRecord(
        request_id=secrets.token_hex(8), client=client, transport=transport, name=None,
        qtype=None, decision=Action.BLOCK.value, reason=Reason.DNS_MALFORMED.value,
        started=started,
    )


def _decision_text(decision: DnsDecision) -> str:
    return "would_block" if decision.would_block else decision.action.value


def _type_name(qtype: int) -> str:
    name = str(QTYPE.get(qtype))
    return f"TYPE{qtype}" if name.isdigit() else name


def _plain(label: bytes) -> str:
    return presentation((label,))[:-1]
