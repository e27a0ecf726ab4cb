"""The fixed set of reason codes a decision can carry (documented in docs/reasons.md).

Reason codes are metric labels and part of the block response contract: add, never rename.
"""

from enum import StrEnum


class Action(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"


class Reason(StrEnum):
    ALLOWED = "allowed"
    # The allowlist.
    HOST_NOT_ALLOWED = "host_not_allowed"
    DENIED_BY_RULE = "denied_by_rule"
    PORT_NOT_ALLOWED = "port_not_allowed"
    SCHEME_NOT_ALLOWED = "scheme_not_allowed"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PATH_NOT_ALLOWED = "path_not_allowed"
    IP_LITERAL_NOT_ALLOWED = "ip_literal_not_allowed"
    INVALID_HOST = "invalid_host"
    # Where the name leads.
    RESOLUTION_FAILED = "resolution_failed"
    PRIVATE_ADDRESS = "private_address"
    METADATA_ADDRESS = "metadata_address"
    PROXY_LOOP = "proxy_loop"
    # Who the client claims to talk to.
    SNI_MISMATCH = "sni_mismatch"
    HOST_MISMATCH = "host_mismatch"
    # What the tunnel carries.
    TUNNEL_NOT_TLS = "tunnel_not_tls"
    PROTOCOL_NOT_HTTP = "protocol_not_http"
    DNS_OVER_HTTPS = "dns_over_https"  # a DNS query sent as an HTTP request
    # CR/LF/NUL in a header or the target, a raw "#" in it: request_framing.py
    REQUEST_MALFORMED = "request_malformed"
    # What the request carries (inspection).
    SECRET_DETECTED = "secret_detected"  # noqa: S105 (a reason code, not a password)
    PII_DETECTED = "pii_detected"
    BODY_TOO_LARGE = "body_too_large"
    BODY_UNDECODABLE = "body_undecodable"
    INSPECTION_LIMIT = "inspection_limit"
    # The DNS server (proxy/dns/).
    DNS_TYPE_NOT_ALLOWED = "dns_type_not_allowed"
    DNS_TUNNELLING = "dns_tunnelling"
    DNS_DOMAIN_BLOCKED = "dns_domain_blocked"  # all clients' traffic to a domain: a tunnel
    DNS_MALFORMED = "dns_malformed"
    DNS_RATE_LIMITED = "dns_rate_limited"
    # The proxy itself.
    INTERNAL_ERROR = "internal_error"


# Blocks that protect the network itself. Monitor mode never turns these into would-blocks and no
# escalation can approve them: they are what stands between an agent and the metadata service.
NEVER_MONITORED: frozenset[Reason] = frozenset(
    {
        Reason.INVALID_HOST,
        Reason.RESOLUTION_FAILED,
        Reason.PRIVATE_ADDRESS,
        Reason.METADATA_ADDRESS,
        Reason.PROXY_LOOP,
        Reason.SNI_MISMATCH,
        Reason.HOST_MISMATCH,
        Reason.REQUEST_MALFORMED,
        Reason.INTERNAL_ERROR,
        Reason.DNS_TYPE_NOT_ALLOWED,
        Reason.DNS_TUNNELLING,
        Reason.DNS_DOMAIN_BLOCKED,
        Reason.DNS_MALFORMED,
        Reason.DNS_RATE_LIMITED,
    }
)
