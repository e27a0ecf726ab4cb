"""An audit line never holds a secret: the fields a sender writes are cleaned before it is sealed.

The host, path, method and logged headers (user agent, content type...) come from the request.
Two passes: every value a detector finds in them as written is replaced (`scrub`); and a field
where inspection found something, in whatever layer (a base64 key in the path, a rot13 one in the
user agent), is replaced whole, since the scrub sees only what is written plainly.
"""

from __future__ import annotations

from collections.abc import Callable

from proxy.audit.record import AuditRecord

REDACTED_FIELD = "[REDACTED:{detector}]"
# Finding locations (addons/request_texts.py) that are fields of the audit line: the path's
# ("url.path", its segments joined "url.path:*", the whole target "url.target"), and the query's
# ("query:<name>", "query:*"), whose names the line keeps and whose text holds them.
_PATH_PREFIX = "url."
_QUERY_PREFIX = "query:"
_METHOD_LOCATION = "method"
_JOINED_HEADERS = "header:*"
_HEADER_PREFIX = "header:"


def redact_record(record: AuditRecord, scrub: Callable[[str], str]) -> None:
    """Clean `record` in place; `scrub` replaces the values detectors find in a text."""
    _clean_fields(record, scrub)
    for finding in record.findings:
        location, detector = str(finding.get("location")), str(finding.get("detector"))
        whole = REDACTED_FIELD.format(detector=detector)
        if location.startswith(_PATH_PREFIX) and record.path is not None:
            record.path = whole
        elif location.startswith(_QUERY_PREFIX) and record.path is not None:
            # A name can be the secret (`?<base64 key>=1`), or a piece of one: the names go.
            path, mark, _ = record.path.partition("?")
            if mark and not path.startswith("[REDACTED:"):
                record.path = f"{path}?{whole}"
        elif location == _METHOD_LOCATION and record.method is not None:
            record.method = whole
        elif location == _JOINED_HEADERS:  # pieces of several headers: which ones is unknown
            record.headers = dict.fromkeys(record.headers, whole)
        elif location.startswith(_HEADER_PREFIX):
            name = location.removeprefix(_HEADER_PREFIX)
            if name in record.headers:
                record.headers[name] = whole


def redact_encoded(record: AuditRecord, finds: Callable[[str], str | None]) -> None:
    """Replace whole each field in which `finds` (inspection, every layer peeled) finds a value,
    naming its detector. For lines with findings: a finding is kept once per value, so a key
    sent plain in one header and base64 in the user agent named one location only, and the
    user agent's base64 went to the log (red team exfil5)."""
    def cleaned(value: str) -> str:
        detector = finds(value)
        return value if detector is None else REDACTED_FIELD.format(detector=detector)

    _clean_fields(record, cleaned)


def _clean_fields(record: AuditRecord, clean: Callable[[str], str]) -> None:
    """`clean` each text field of the line a request can choose: host, path, method, headers."""
    if record.host is not None:
        record.host = clean(record.host)
    if record.path is not None:
        record.path = clean(record.path)
    if record.method is not None:
        record.method = clean(record.method)
    record.headers = {name: clean(value) for name, value in record.headers.items()}
