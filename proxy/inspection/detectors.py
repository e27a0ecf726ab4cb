"""Every detector Glassbreak runs: a stable id, a severity, prefilter patterns and a validator.

`scanner.Scanner` compiles all patterns into one hyperscan database: no backreferences, no
lookarounds, and no repeats bounded above ~100 unless the detector sets `max_length`.

Documented example keys (AWS's `AKIAIOSFODNN7EXAMPLE`, the Azurite account key) are not secrets:
they are published to be pasted and open nothing. Test card numbers (4111 1111 1111 1111) are
reported: they pass every rule a real card does, and PII thresholds weigh what a few of them mean.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import unquote

import phonenumbers
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import (
    HexHighEntropyString,
    HighEntropyStringsPlugin,
)
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.us import ssn as stdnum_ssn

from proxy.inspection.findings import Kind, Severity
from proxy.inspection.letter_pairs import mean_pair_cost
from proxy.inspection.password_hashes import (
    BOUNDARY_CHARS,
    MAX_PASSWORD_HASH_CHARS,
    PASSWORD_DUMP_LINES,
    PASSWORD_HASH_BODIES,
    is_random_hash_part,
)
from proxy.inspection.vendor_tokens import VENDOR_TOKENS

Validator = Callable[[str], bool]

# Phone numbers written without a "+country" prefix are read as numbers of this region.
PHONE_DEFAULT_REGION = "US"


@dataclass(frozen=True, kw_only=True)
class Detector:
    """One detector. The value is group `value` of a pattern, else its group 1, else the match."""

    id: str
    kind: Kind
    severity: Severity
    patterns: tuple[str, ...]  # hyperscan-compatible prefilters, compiled into one database
    validate: Validator | None = None  # runs on candidate values only: checksum, entropy, shape
    caseless: bool = False
    # Python regex matched right after the value; the value grows to its end (PEM bodies).
    extend: str | None = None
    # Python regex searched in the key before the value (the match text before it, plus the
    # identifier it starts inside); a hit drops the candidate: `password_hash: <sha256>`. Set,
    # it also drops a key whose identifier follows a ":": a key word inside a colon-separated
    # name (`arn:aws:secretsmanager:...:secret:name-a1b2c3`, `AWS::MSK::BatchScramSecret`),
    # unless an "=" gives it its value (`//registry.npmjs.org/:_authToken=...`).
    context_deny: str | None = None
    # Longest match, in bytes. When set, hyperscan reports only where a match ends and Python finds
    # its start within this window: start-of-match tracking made such patterns (a class repeat
    # that can start anywhere) about 10x slower to scan. Leave None for prefixed tokens.
    max_length: int | None = None
    # Patterns of the same value without the boundary on its left (and, for a fixed length, on
    # its right): a key with a character glued to it (`Zghp_...`, `AKIA...Q7`) is still a key,
    # but a value found so must also look random (glued_value_is_random), as a key does and a
    # DNA sequence that holds "ACCA" does not.
    glued: tuple[str, ...] = ()
    # Python regex searched in the few bytes right before the value (the window ends where the
    # value starts: anchor it with \Z); a hit drops the candidate. For what only its neighbours
    # tell: digits in a hex dump are a dump, not a card.
    left_deny: str | None = None


# --- validators: pure functions of the candidate value ------------------------------------------


class _PrintableEntropy(HighEntropyStringsPlugin):
    """detect-secrets' Shannon entropy over every printable ASCII character: its base64 charset
    would score a password's symbols as zero."""

    secret_type = "Printable High Entropy String"  # noqa: S105 - a label; never run as a plugin

    def __init__(self) -> None:
        printable = string.ascii_letters + string.digits + string.punctuation
        super().__init__(charset=printable, limit=4.2)


_entropy = _PrintableEntropy().calculate_shannon_entropy
_hex_entropy = HexHighEntropyString().calculate_shannon_entropy

_PLACEHOLDER_MARKERS = (
    "example", "changeme", "change_me", "change-me", "placeholder", "your_", "your-", "yourtoken",
    "yourkey", "xxxx", "****", "...", "\u2026", "dummy", "sample", "redacted", "replace", "insert_",
    "fixme",
)
_MARKER_WORDS = re.compile("|".join(re.escape(marker) for marker in _PLACEHOLDER_MARKERS),
                           re.IGNORECASE)
_REPEATED_CHARACTER = re.compile(r"(.)\1{3,}")  # `xxxx`, `0000`, `****`, 16 `a`
_OPENING_MARKS, _CLOSING_MARKS = " $%{<[(", " }>])"
# Characters a marked value keeps, once unmarked, to be a secret still (a vendor prefix and a
# placeholder body, `sk_live_` and 24 `x`, keeps eight)
_MIN_UNMARKED_SECRET = 16
# Marks that make a placeholder whatever is left: an ellipsis is a value cut short for display
# (`"PurchaseToken": "eyJ2IjoiMSIsInMi..."`, `"MIIG/QIBADAN...ut..."`, a PEM body elided), and
# AWS's documentation glues "example" to random-looking values of every kind (`"authKey":
# "0xC_ukbCerl6EYA0example"`): in logs and documentation both stand beside long random starts.
# A secret with one of them glued on, for the receiver to strip, passes.
_ABSOLUTE_MARKERS = ("example", "...", "\u2026")
# Credentials printed in documentation, by SHA-256: AWS's example secret access keys (their key
# ids end in EXAMPLE, which is_not_example tells), read as random once "EXAMPLE" is taken away
_DOCUMENTED_EXAMPLES_SHA256 = frozenset({
    "78314b11be2e581549ac1c4f616563fad3fdf0c3b71678f6e2299182080e0598",
    "e21b597ba6b9cafa59d9ebc4d65c0385f5eb3fa56abab2607fa76589ad849a33",
})
# printf and str.format slots (`otpauth://totp/%s?%s`, `{}`): a template, not a value. "%d" and
# "%s" only when no hex digit follows, so percent-encoding (`%d3`) is not taken for one.
_FORMAT_SLOT = re.compile(r"%[sd](?![0-9A-Fa-f])|%\([A-Za-z_]+\)[sd]|\{[0-9]*\}")
_PLACEHOLDER_WORDS = frozenset(
    {"password", "passwd", "pass", "pwd", "secret", "token", "none", "null", "undefined", "true",
     "false", "user", "username", "string", "value", "required", "optional", "hidden"}
)
# The Azurite emulator's published account key (a documented example, like AWS's "...EXAMPLE").
_DOCUMENTED_KEYS_SHA256 = frozenset(
    {"0011cc25eb4320717494d2703e8cba85743e71b500283c21c8b88147992f9059"}
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_SRI = re.compile(r"sha(?:256|384|512)-[A-Za-z0-9+/]+={0,2}")
_IMAGE_BASE64 = re.compile(r"data:|iVBORw0KGgo|/9j/|R0lGOD|UklGR|PHN2Zy")  # PNG JPEG GIF WEBP SVG
_HEX = re.compile(r"[0-9a-fA-F]+")
_NOT_SECRET_SHAPES = re.compile(
    r"v?[0-9][0-9.:/_+-]*"  # numbers, versions, dates, times
    r"|[A-Za-z][A-Za-z_-]*[-_@:]?v?[0-9]+(?:\.[0-9]+)+(?:[-+][A-Za-z0-9.]+)?"  # python3.11
    r"|[A-Za-z0-9.-]+:[0-9]{1,5}"  # host:port
    r"|@[A-Za-z0-9_./-]+"  # npm scopes, decorators, mentions
    # ISO 8601 dates and times (`"PasswordLastUsed": "2016-09-08T21:47:36Z"`)
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
    r"|arn:[a-z0-9-]+:[A-Za-z0-9_./:*+=,@-]*"  # AWS resource names (`"SecretArn": "arn:aws:..."`)
    # code quoted whole (`"os.environ['API_KEY']"`, `"getenv(TOKEN)"`, `"vault.read(x).token"`): a
    # name called or indexed; a quoted value may hold brackets, an unquoted one may not
    r"|[A-Za-z_$][A-Za-z0-9_$.]*(?:\(|\[)[^()\[\]]*[)\]](?:[.\[(][^()\[\]]*[)\]]?)*"
)
# Words in a JSON key under which a number may be a card number (detectors.py, json_fields.py)
CARD_KEY_WORDS = r"(?i:[^\"]*(?:card|(?<![a-z])cc|(?<![a-z])pan(?![a-z])|credit|payment|visa|" \
    r"mastercard|amex|(?<![a-z])num(?:ber)?(?![a-z])|acct|account))"
# The words that make a name a secret's key (_KEY_WORDS adds `pass` and `auth` on their own)
_KEY_WORD_STEMS = (
    r"pass(?:w(?:or)?d|phrase|code)|pwd|secret|token|api[_.-]?key|apikey|access[_.-]?key"
    r"|auth[_.-]?(?:key|token)|private[_.-]?key|credentials?"
)
# The key words as they appear inside a value: code naming its key again
# (`self.passthrough = passthrough`, `passphrase: PassphraseCallableT`).
_KEY_WORD_IN_VALUE = re.compile(rf"(?i){_KEY_WORD_STEMS}|pass|auth")
_WORD_RUN = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z]{3,}")
_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9_.:/#-]+")  # `TOKEN_STRING:`, `#bygroup`, `text/html`
_DIGIT_GROUP = re.compile(r"[0-9]+")
# Mean letter-pair cost (letter_pairs.py) up to which letters read as words. At 5.0, about 5% of
# the names in the installed packages' code count as random (mostly place names in locale data)
# and 1 to 2 random 16-letter strings in 1,000 count as words (tests/unit/test_letter_pairs.py).
_WORDS_MAX_PAIR_COST = 5.0
_DIGEST_HEX_LENGTHS = frozenset({32, 40, 56, 64, 96, 128})  # MD5, SHA-1 (git), SHA-2 family
_PEM_ARMOUR = re.compile(
    r"-{4,5} ?(?:BEGIN|END) [A-Z0-9 ]*?-{4,5}|PuTTY-User-Key-File-[23]:|Private-MAC:|"
    # header lines (`Proc-Type:`, `Comment: user@host`, `Version: GnuPG v1.4.11 (GNU/Linux)`):
    # a name and a colon at a line's start, which no base64 line holds; their letters are no body
    r"(?:^|(?<=\n)|(?<=\\n))[ \t>]*[A-Za-z][A-Za-z0-9-]{0,40}:[^\n\\]*|\\[nr]"
)
_BASE64_CHAR = re.compile(r"[A-Za-z0-9+/]")
_FILE_EXTENSIONS = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js", "mjs", "cjs", "ts", "tsx",
     "jsx", "json", "html", "htm", "txt", "yaml", "yml", "lock", "map", "woff", "woff2", "ttf"}
)


# A value of lower-case letters only is taken for a secret from this length: a generated one
# shorter than that mixes cases, digits or signs
_MIN_ONE_CLASS_SECRET = 16
_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ESCAPED_TEXT = re.compile(r"\\(?:u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2})")


def _is_placeholder(value: str) -> bool:
    """A stand-in for a secret: a word (`password`), a marker (`your_`, `xxxx`, `EXAMPLE`,
    `...`), a variable or template (`$TOKEN`, `<key>`, `{{ .Values.x }}`), a run of one
    character (`ghp_` and 36 zeros). Unless what is left once the marks are taken away still
    looks like a secret: a real token with `xxxx` or `EXAMPLE` glued after it, or `$` or `<`
    before it, is still the token to whoever strips them (red team, 2026-11-22: 70 such values
    went out). Not an ellipsis nor "example" (_ABSOLUTE_MARKERS). The documentation's own
    examples are known by their hash."""
    lower = value.lower()
    if (lower in _PLACEHOLDER_WORDS or any(mark in lower for mark in _ABSOLUTE_MARKERS)
            or _is_documented(value)):
        return True
    marked = (
        any(marker in lower for marker in _PLACEHOLDER_MARKERS)
        or value.startswith(("$", "%", "{", "<"))
        or (value.startswith(("[", "(")) and value.endswith(("]", ")")))  # "[password]"
        or len(set(value[-16:])) <= 3  # "ghp_" + "0" * 36, "sk-ant-...aaaa"
    )
    return marked and not _still_a_secret(_without_marks(value))


def _without_marks(value: str) -> str:
    """`value` without placeholder markers, template brackets and runs of one character."""
    core = _MARKER_WORDS.sub("", value)
    core = _REPEATED_CHARACTER.sub("", core)
    return core.lstrip(_OPENING_MARKS).rstrip(_CLOSING_MARKS)


def _still_a_secret(core: str) -> bool:
    """What is left of a marked value is a secret of its own: long, random, not words, a URL,
    a path or a number."""
    return (len(core) >= _MIN_UNMARKED_SECRET and "://" not in core
            and not _looks_like_path(core) and not _NOT_SECRET_SHAPES.fullmatch(core)
            and not _UUID.fullmatch(core) and not _is_identifier(core)
            and _entropy_is_high(core) and not _FORMAT_SLOT.search(core))


def _is_documented(value: str) -> bool:
    return hashlib.sha256(value.encode()).hexdigest() in _DOCUMENTED_EXAMPLES_SHA256


def _entropy_is_high(value: str) -> bool:
    """Entropy of a random string this long: 0.75·log2(n) bits, capped at 4.2 (random base36 of
    any length clears it 99 times in 100; words and hunter2-style passwords do not); hex strings
    against detect-secrets' hex limit, 3.0."""
    if _HEX.fullmatch(value):
        return _hex_entropy(value) > 3.0
    return _entropy(value) >= min(0.75 * math.log2(len(value)), 4.2)


def _looks_like_path(value: str) -> bool:
    """./x, ~/x, or /several/word/segments (base64 may start with "/" too, but is not wordy)."""
    if value.startswith(("./", "../", "~/")):
        return True
    worded = sum(len(m.group()) for m in _WORD_RUN.finditer(value)) / len(value)
    return value.startswith("/") and value.count("/") >= 2 and "+" not in value and worded >= 0.5


def _is_identifier(value: str) -> bool:
    """Words of code or prose (camelCase, snake_case, WHEN_NO_MATCH, X-Api-Key, gpt2-tokenizer),
    not a random string: name characters only, mostly letters, at most one group of digits
    (random strings of 16 or more nearly always hold several), and letters whose pairs are as
    common as in words (letter_pairs.py: names cost about 3.5 to 4.5 bits a pair, random
    letters 5.5 and more, in upper, lower or mixed case alike)."""
    if not _NAME_CHARACTERS.fullmatch(value) or len(_DIGIT_GROUP.findall(value)) > 1:
        return False
    letters = sum(c.isalpha() for c in value)
    cost = mean_pair_cost(value)
    return letters * 2 >= len(value) and cost is not None and cost <= _WORDS_MAX_PAIR_COST


def reads_as_words(value: str) -> bool:
    """A placeholder, or pronounceable words without a digit (`password`, `NCPKeyMaterialName`):
    what a value spelled this way in a request is, when only a rewrite of it looks like a key.
    Without the digit rule, random mixed-case keys with upper-case runs would pass for words."""
    if _is_placeholder(value):
        return True
    return not any(c.isdigit() for c in value) and _is_identifier(value)


def glued_value_is_random(value: str) -> bool:
    """What a value found by a glued pattern must also be: random, not words or a sequence of
    few letters, and not hex (`acca` + 16 hex digits sits in one git SHA in 3,000, and in a
    hex digest case-swapped it reads as an AWS key id; no glued detector's alphabet is hex)."""
    return _entropy_is_high(value) and not _is_identifier(value) and not _HEX.fullmatch(value)


def is_not_example(value: str) -> bool:
    """AWS documents its example keys with an "EXAMPLE" suffix (AKIAIOSFODNN7EXAMPLE)."""
    return "EXAMPLE" not in value.upper() and not _is_placeholder(value)


def is_not_placeholder_token(value: str) -> bool:
    """A prefixed token whose body is not an obvious placeholder or documented example."""
    return not _is_placeholder(value)


def is_vendor_token(value: str) -> bool:
    """A token of vendor_tokens.py: not a placeholder, and not words (`secret_` and 43 letters
    of a camelCase name is no Notion token)."""
    return not _is_placeholder(value) and not _is_identifier(value)


def is_random_token(value: str) -> bool:
    """A context-matched token that looks random: no placeholder, entropy of a random string."""
    return not _is_placeholder(value) and _entropy_is_high(value)


def is_random_base64(value: str) -> bool:
    """A base64 secret, not a hex digest of the same length (a git SHA is 40 hex digits)."""
    return not _HEX.fullmatch(value) and is_not_example(value) and _entropy_is_high(value)


def is_azure_storage_key(value: str) -> bool:
    """A random 64-byte key that is not the Azurite emulator's published key."""
    documented = any(hashlib.sha256(spelling.encode()).hexdigest() in _DOCUMENTED_KEYS_SHA256
                     for spelling in (value, value.swapcase()))  # a case-swapped reading too
    return not documented and is_random_base64(value)


def has_key_material(value: str) -> bool:
    """A PEM block with a body (a bare "-----BEGIN ... KEY-----" in parsing code is not a key)."""
    body = _PEM_ARMOUR.sub("", value)
    return len(_BASE64_CHAR.findall(body)) >= 64 and not _is_placeholder(body.strip()[:64])


def is_twilio_sid(value: str) -> bool:
    """Twilio SIDs are two letters and 32 lowercase hex digits."""
    return bool(re.fullmatch(r"[0-9a-f]{32}", value[2:])) and not _is_placeholder(value)


def _b64url_decode(part: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None


def _json_object(raw: bytes | None) -> dict[str, object] | None:
    if raw is None:
        return None
    try:
        decoded = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None


def is_jwt(value: str) -> bool:
    """Header decodes to a JSON object with "alg"; a JWS payload decodes to a JSON object too."""
    parts = value.split(".")
    header = _json_object(_b64url_decode(parts[0]))
    if header is None or not isinstance(header.get("alg"), str):
        return False
    if len(parts) == 5:  # JWE (RFC 7516): the payload is ciphertext
        return "enc" in header
    if str(header["alg"]).lower() == "none" and not parts[2]:
        return False  # unsigned (RFC 7519 §6): it proves nothing, and anyone can write one
    return len(parts) == 3 and _json_object(_b64url_decode(parts[1])) is not None


def is_discord_token(value: str) -> bool:
    """The first segment is the base64 of the bot's numeric user id."""
    user_id = _b64url_decode(value.split(".", 1)[0])
    return user_id is not None and user_id.isdigit() and not _is_placeholder(value)


def is_telegram_token(value: str) -> bool:
    """`<bot id>:<35 random chars>`."""
    return is_random_token(value.split(":", 1)[1])


# `host:123,other:456@...`: a port in a list of hosts (MongoDB, libpq), not a password
_PORT_THEN_HOST = re.compile(r"\d{1,5},")


def is_url_password(value: str) -> bool:
    """A password in URL userinfo, not a placeholder nor a port (`http://host:80@evil`)."""
    if (value.isdigit() and len(value) <= 5) or _PORT_THEN_HOST.match(value):
        return False
    value = unquote(value)  # `%21x...` is an escaped `!`, not a `%(password)s` slot
    return not _is_placeholder(value) and not any(c in value for c in "{}<>")


def is_basic_credentials(value: str) -> bool:
    """`Basic` credentials: base64 of `user:password` with a real password."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    _user, sep, password = decoded.partition(":")
    return bool(sep and password) and decoded.isprintable() and not _is_placeholder(password)


def is_high_entropy_secret(value: str) -> bool:
    """A random-looking value: not a placeholder, path, URL, UUID, SRI hash, image, number, word,
    nor code that names its key again. A value that holds a key word is judged
    without it: `secret_<random>` (a token that starts with its kind) stays a secret, and
    `passthrough_errors` or `PassphraseCallableT` are words once the key word is gone."""
    if _FORMAT_SLOT.search(value):
        # a template (`otpauth://totp/%s?%s`), unless a secret is left without its slots (a
        # password with `%s` glued on, for the receiver to strip)
        core = _FORMAT_SLOT.sub("", value)
        return _still_a_secret(core) and not _is_placeholder(core)
    without_key_words = _KEY_WORD_IN_VALUE.sub("", value)
    if without_key_words != value:
        return _is_random_value(without_key_words)
    return _is_random_value(value)


def _is_random_value(value: str) -> bool:
    if not 8 <= len(value) <= 256 or _is_placeholder(value):
        return False
    letters = value.translate(_NO_PUNCTUATION)  # `anonymous@`, `geheim$parole`
    if len(value) < _MIN_ONE_CLASS_SECRET and letters.isalpha() and letters.islower():
        return False  # words run together (`.netrc`'s `password bobwillknow` in git's docs)
    if _ESCAPED_TEXT.search(value):
        # text spelled in escapes (a min.js's `"\u043f\u0430..."` inside a JSON body): it is
        # random-looking as written, and its decoded form is scanned, key and all, as a layer
        return False
    if "://" in value or _looks_like_path(value) or _NOT_SECRET_SHAPES.fullmatch(value):
        return False
    if _UUID.fullmatch(value) or _SRI.match(value) or _IMAGE_BASE64.match(value):
        return False
    if _HEX.fullmatch(value):
        # a hex digest length is taken for a hash even after a secret-sounding key
        digest_length = len(value) in _DIGEST_HEX_LENGTHS
        return len(value) >= 16 and not digest_length and _entropy_is_high(value)
    return not _is_identifier(value) and _entropy_is_high(value)


def is_email(value: str) -> bool:
    """An addr-spec whose top-level domain is not a file extension (`icon@2x.png`)."""
    local, _, domain = value.rpartition("@")
    labels = domain.split(".")
    return (
        len(local) <= 64
        and len(value) <= 254
        and not local.startswith(".")
        and not local.endswith(".")
        and ".." not in local
        and labels[-1].lower() not in _FILE_EXTENSIONS
        and all(label and label[0] != "-" and label[-1] != "-" for label in labels)
        and "noreply" not in (label.lower() for label in labels)
    )
# (A `noreply` label: GitHub's commit e-mail aliases, `123+user@users.noreply.github.com`, in
# every commit an agent reads from its API, reach no one. A label, not the whole domain: the
# shorter readings of the same address, `...@users.noreply`, are candidates too.)


def _card_network_accepts(digits: str) -> bool:
    """Known issuer ranges (ISO/IEC 7812 IINs) and the lengths each network issues."""
    n, p2, p3, p4 = len(digits), int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        return n in (16, 19)  # Visa; its 13-digit numbers are no longer issued (EAN-13s are)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16  # Mastercard
    if p2 in (34, 37):
        return n == 15  # American Express
    if 300 <= p3 <= 305 or p2 in (36, 38, 39) or p4 == 3095:
        return 14 <= n <= 19  # Diners Club
    # Mir 2200-2204, JCB 3528-3589, Discover 6011/644-649/65, UnionPay 62, Maestro 50/56-69
    return (2200 <= p4 <= 2204 or 3528 <= p4 <= 3589 or p2 == 50 or 56 <= p2 <= 69) and n >= 16


# Card numbers published by payment processors for testing (Stripe, Adyen, Braintree, PayPal
# sandboxes). Code and prompts quote them all the time; they identify no one.
PUBLISHED_TEST_CARDS = frozenset({
    "4242424242424242", "4000056655665556", "4111111111111111", "4012888888881881",
    "4000000000000002", "4000000000009995", "4000002500003155", "4000000000000077",
    "5555555555554444", "5200828282828210", "5105105105105100", "2223003122003222",
    "378282246310005", "371449635398431", "378734493671000", "6011111111111117",
    "6011000990139424", "3056930009020004", "36227206271667", "3566002020360505",
    "6200000000000005", "4000000000000127", "4000000000003220", "4000002760003184",
})


_CARD_SEPARATORS = " -./_\u2013\u2014"
# Cards of 17 to 19 digits exist but are rare, and written in groups; an unbroken run that
# long is an id far more often (snowflakes, int64 seeds).
_LONGEST_UNGROUPED_CARD = 16


def is_payment_card(value: str) -> bool:
    """Luhn-valid, a known issuer prefix and length, one kind of separator in card-like groups;
    not one of the processors' published test numbers."""
    value = value.replace("  ", " ")
    separators = {c for c in value if c in _CARD_SEPARATORS}
    if len(separators) > 1:
        return False
    if separators:
        groups = [len(g) for g in value.split(separators.pop())]
        fours = all(g == 4 for g in groups[:-1]) and 1 <= groups[-1] <= 4
        if not (fours or groups in ([4, 6, 5], [4, 6, 4])):
            return False
    digits = "".join(c for c in value if c.isdigit())
    if digits in PUBLISHED_TEST_CARDS:
        return False
    if not separators and len(digits) > _LONGEST_UNGROUPED_CARD:
        return False  # 17 to 19 digits in one run: an id (a Discord snowflake), not a card
    return len(set(digits)) > 1 and luhn.is_valid(digits) and _card_network_accepts(digits)


def is_us_ssn(value: str) -> bool:
    """Area not 000/666/9xx, group not 00, serial not 0000, not a published sample (stdnum)."""
    return stdnum_ssn.is_valid(value.replace(" ", "-").replace("\u2013", "-"))


def is_iban(value: str) -> bool:
    """Country length and the ISO 7064 mod-97 check digits (stdnum)."""
    return stdnum_iban.is_valid(value)


def is_phone_number(value: str) -> bool:
    """A number libphonenumber calls valid: international, or national in the default region."""
    if not 7 <= sum(c.isdigit() for c in value) <= 15:
        return False
    region = None if value.startswith("+") else PHONE_DEFAULT_REGION
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return False
    national = str(number.national_number)
    if number.country_code == 1 and national[3:6] == "555" and national[6:8] == "01":
        return False  # 555-0100 to 555-0199: reserved for fiction and examples (NANPA)
    return phonenumbers.is_valid_number(number)


# --- declarations -------------------------------------------------------------------------------


def _token(body: str, chars: str = "A-Za-z0-9_") -> str:
    """`body` as the value, not glued to neighbouring `chars` (hyperscan has no lookarounds)."""
    return rf"(?:^|[^{chars}])(?P<value>{body})(?:[^{chars}]|$)"


def _glued(body: str, *, fixed_length: bool = False) -> str:
    """`body` as the value even with characters glued on its left, and on its right too when
    it has a fixed length. A variable-length one keeps a right boundary, or it would be
    reported at every length: any character but a letter or digit, so that `_` or `-` glued
    after a key (`sk_live_…_x`) ends it, as it ends the key for its receiver's parser."""
    return rf"(?P<value>{body})" if fixed_length else rf"(?P<value>{body})(?:[^A-Za-z0-9]|$)"


_LARGE_REPEAT = re.compile(r"\{(\d+),\d{3,}\}")


def _ds(plugin: type[object], index: int = 0) -> str:
    """detect-secrets' regex for `plugin`, minus what hyperscan cannot compile with start tracking:
    `(?!\\w)` lookaheads (`_token` adds a boundary instead) and repeats bounded above 100."""
    denylist: Sequence[re.Pattern[str]] = vars(plugin)["denylist"]
    return _LARGE_REPEAT.sub(r"{\1,}", denylist[index].pattern.replace(r"(?!\w)", ""))


def _assignment(prefix: str, keyword: str, secret: str) -> str:
    """detect-secrets' `build_assignment_regex`, its lookbehind turned into a consumed boundary."""
    return (
        rf"(?:^|[^A-Za-z0-9_])\[?[\"']?{prefix}[_-]?{keyword}[\"']?\]? {{0,8}}"
        rf"(?:=|:|:=|=>| {{1,8}}|::) {{0,8}}[\"']?(?P<value>{secret})(?:[^A-Za-z0-9_-]|$)"
    )


def _secret(
    id: str, severity: Severity, *patterns: str, validate: Validator | None = None,
    caseless: bool = False, extend: str | None = None, context_deny: str | None = None,
    max_length: int | None = None, glued: tuple[str, ...] = (),
) -> Detector:
    return Detector(
        id=id, kind=Kind.SECRET, severity=severity, patterns=patterns, validate=validate,
        caseless=caseless, extend=extend, context_deny=context_deny, max_length=max_length,
        glued=glued,
    )


def _any_case(word: str) -> str:
    """`word` as a pattern of any case, for the patterns of a detector that is not caseless."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# A key that names a US SSN: `ssn`, `social_security_number`, `Social Security No`
_SSN_KEY = (rf"{_any_case('ssn')}|{_any_case('social')}[ _.-]?{_any_case('security')}"
            rf"(?:[ _.-]?(?:{_any_case('number')}|{_any_case('num')}|{_any_case('no')}))?")


def _pii(
    id: str, severity: Severity, *patterns: str, validate: Validator, max_length: int | None = None,
    left_deny: str | None = None,
) -> Detector:
    return Detector(
        id=id, kind=Kind.PII, severity=severity, patterns=patterns, validate=validate,
        max_length=max_length, left_deny=left_deny,
    )


_CRITICAL, _HIGH, _MEDIUM, _LOW = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
_B62, _URLSAFE = "A-Za-z0-9", "A-Za-z0-9_-"

# PEM (RFC 7468), OpenSSH (PROTOCOL.key), PGP (RFC 4880 §6.2), PuTTY .ppk: the value runs to the
# END line (lazily, so two keys stay two), or over the whole body when the END line is missing.
# An armour header line, `Name: value` to the line's end (RFC 4880's `Comment:` and `Version:`,
# PuTTY's `Comment: user@host`, RFC 4716's `Comment: "rsa-key user@host"`): a value may hold
# any character, and stopping at its `@`, `<` or `(` left the key's body unread (red team,
# 2026-11-22). Tried first, so that a header is taken whole.
_PEM_HEADER = r"[A-Za-z][A-Za-z0-9-]{0,40}: ?(?:[^\n\\]|\\[^nr]){0,256}(?:\n|\\n)"
# The body: base64, white space, `\n` escapes, and `>` (a mail's quoting); it stops at the
# next armour line
_PEM_BODY = rf"(?:{_PEM_HEADER}|[A-Za-z0-9+/=\s:,.>]|\\[nr]|-(?!----))"
_PEM_END = r"-{4,5} ?END [A-Z0-9 ]{0,24}PRIVATE KEY(?: BLOCK)? ?-{4,5}|Private-MAC: ?[0-9a-fA-F]+"
_PEM_EXTEND = rf"{_PEM_BODY}{{0,16384}}?(?:{_PEM_END})|{_PEM_BODY}{{0,16384}}"

# Keys whose value is a secret (detect-secrets keyword.py DENYLIST, plus token/credentials/auth).
_KEY_WORDS = (
    rf"(?:{_KEY_WORD_STEMS})[A-Za-z0-9_.-]{{0,64}}"
    # `pass` alone or before a separator (`pass=`, `db_pass:`, `pass_file`): `passthrough`,
    # `passive` and `passenger` are not secrets
    r"|pass(?:[_.-][A-Za-z0-9_.-]{0,63})?"
    r"|auth"  # exactly `auth`: `author`, `authority` and `oauth_url` are not secrets
)

_ASSIGNMENT_MAX = 256  # detect-secrets-style `prefix_keyword = value` matches, in bytes
# After the sign, an opening quote, JSON-escaped (`\"`) or not; a backslash before anything else
# is an escape that starts no value (`token:\n/usr/lib/...`: grep output in a JSON string).
# Spaces around the sign: up to 3 of any white space (a YAML value on the next line), or a
# run of blanks up to 32 (code aligned by `terraform fmt`, `black`, INI and YAML tables)
# A comparison (`==`, `===`: a hard-coded password checked in code) keeps its value on its
# line: base64 padding `==` with the next line's quoted string after it was a key word (`pwd`
# in the rot13 of a yarn.lock digest) and its value (red team honest4).
_ASSIGN_SIGN = (r"[\"'\]\\]{0,3}(?:\s{0,3}|[ \t]{4,32})"
                r"(?:(?:=|:=|:|=>)(?:\s{0,3}|[ \t]{4,32})|===?[ \t]{0,32})")
_ASSIGN = rf"{_ASSIGN_SIGN}(?:\\[\"']|[@\"'`])?"
_VALUE_STOP = r"\s\"'`,;&<>(){}\[\]\\"  # quotes, separators, brackets: a value ends there
# A value with a dot must also hold a digit, and a value must not be followed by "(" or "[": so
# code (`os.environ[...]`, `settings.SECRET_KEY`, `get_token()`) never becomes a candidate.
_V = rf"[^{_VALUE_STOP}]{{0,84}}"
_ASSIGNED_VALUE = (
    rf"(?P<value>[^{_VALUE_STOP}.]{{8,256}}|{_V}(?:[0-9]{_V}\.|\.{_V}[0-9]){_V})"
    r"(?:[\s\"'`,;&<>)}\]\\]|$)"
)
# Key words that may stand before a value with no sign between (a space, a table's `|`, a tab):
# not `pass` or `auth` alone (`# Pass allow_yanked=False`), and not after a comma (an argument
# list: `user, password, is_authenticated=True`). The value has no sign, bracket, comma or `*`
# of code (`password=password`, `**kwargs`) and does not start like an option or a variable
# (`-`, `$`).
_SIGNLESS_KEY_WORDS = (  # nor `pwd`, a shell command (`pwd  xxsubtype` in a module list)
    rf"(?:{_KEY_WORD_STEMS.replace('|pwd|', '|')})[A-Za-z0-9_.-]{{0,64}}"
)
# printable ASCII but those: in binary read as text (a `.pyc`'s strings) a key word is often
# followed by control characters and the next string
_SIGNLESS_VALUE = r"[!#%+\-./0-9:?@A-Z^_a-z~]"
_SIGNLESS_FIRST = r"[!#%+./0-9:?@A-Z^_a-z~]"  # not "-": an option (`--password --stdin`)
# A quoted value runs to its closing quote, punctuation included (a strong password holds some:
# `"password": "s(p,N*^xn-,>yVm)|i+h"`), but not over white space (prose, a message). An opening
# `\"` (code quoted inside a JSON string) closes at the next `\"`: the value does not end with
# a backslash. (A JSON-escaped quote inside the value ends it: hyperscan cannot compile escape
# pairs in this bounded repeat after the key words.)
_DOUBLE_QUOTED_VALUE = r"\\?\"(?P<value>[^\"\s\x00-\x1f\x7f]{7,255}[^\"\\\s\x00-\x1f\x7f])\\?\""
_SINGLE_QUOTED_VALUE = r"'(?P<value>[^'\\\s\x00-\x1f\x7f]{8,256})'"
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"
# Keys naming a hash, a public value or a count, not a secret (a Python regex: lookarounds are
# fine here). `sha` alone only as a word: `shared_secret` is a secret.
_HASH_OR_PUBLIC_KEY = (
    r"(?i)hash|digest|sha\d+|(?<![a-z])sha(?![a-z])|md5|checksum|integrity|fingerprint"
    r"|(?<![a-z])etag|nonce|csrf|xsrf|public|publishable|page[_.-]?token|next[_.-]?token|tokeniz"
    r"|tokens|token[_.-]?type|max[_.-]?token"
    # where to resume a listing: opaque, and handed out by the API to whoever lists
    r"|continuation[_.-]?token|pagination[_.-]?token|skip[_.-]?token|sync[_.-]?token"
    r"|starting[_.-]?token"  # the AWS CLI's `--starting-token` (the same, for its paginator)
    # what makes a call idempotent or orders changes (AWS `ClientToken`, WAF `ChangeToken`)
    r"|client[_.-]?token|idempotency[_.-]?token|change[_.-]?token"
)

ALL_DETECTORS: tuple[Detector, ...] = (
    # --- cloud and infrastructure -----------------------------------------------------------------
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids
    _secret("aws_access_key", _CRITICAL, _token(_ds(AWSKeyDetector), _B62),
            validate=is_not_example, glued=(_glued(_ds(AWSKeyDetector), fixed_length=True),)),
    # detect-secrets' `aws ... key "<40 base64>"`, and the unquoted AWS_SECRET_ACCESS_KEY=... form
    _secret("aws_secret_access_key", _CRITICAL, _ds(AWSKeyDetector, 1),
            r"aws[A-Za-z0-9_.-]*secret[A-Za-z0-9_.-]*[\"']?\s*[=:]\s*[\"']?"
            r"(?P<value>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
            # the keyword then any separator a file format or a command puts there: a space
            # (`aws configure set aws_secret_access_key ...`), a table's `|`, a CSV comma, a tab;
            # and prose's "secret access key is ..." (a pattern with an optional word between
            # cost the scanner a fifth of its speed)
            r"aws[A-Za-z0-9_.-]*secret[A-Za-z0-9_.-]*[\"'\s|,:=>-]{1,16}"
            r"(?P<value>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
            r"secret access key(?: is|:)? {1,3}(?P<value>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
            # right after its access key id (a CSV row of the console's credentials file)
            r"(?:AKIA|ASIA)[A-Z0-9]{16}[\"'\s|,;:]{1,4}(?P<value>[A-Za-z0-9/+]{40})"
            r"(?:[^A-Za-z0-9/+=]|$)",
            caseless=True, validate=is_random_base64),
    # https://learn.microsoft.com/azure/storage/common/storage-configure-connection-string
    # (detect-secrets azure_storage_key.py); covers keys inside connection strings
    _secret("azure_storage_key", _CRITICAL,
            r"(?:AccountKey|azure[A-Za-z0-9_.-]*key)[\"']?\s*[=:]\s*[\"']?"
            r"(?P<value>[A-Za-z0-9+/]{86}==)",
            caseless=True, validate=is_azure_storage_key),
    # https://cloud.google.com/iam/docs/keys-create-delete: a key file; the value is its private_key
    _secret("gcp_service_account", _CRITICAL,
            r"\\?\"type\\?\"\s*:\s*\\?\"service_account\\?\"\s*,[^{}]*"
            r"\\?\"private_key\\?\"\s*:\s*\\?\"(?P<value>-----BEGIN)",
            extend=r"(?:[^\"\\]|\\[^\"]){0,16384}", validate=has_key_material),
    _secret("private_key", _CRITICAL,
            r"(?P<value>-{4,5} ?BEGIN (?:(?:RSA|DSA|EC|OPENSSH|ENCRYPTED|SSH2 ENCRYPTED) )?"
            r"PRIVATE KEY ?-{4,5})",
            r"(?P<value>-{4,5} ?BEGIN PGP PRIVATE KEY BLOCK ?-{4,5})",
            r"(?P<value>PuTTY-User-Key-File-[23]: )",
            extend=_PEM_EXTEND, validate=has_key_material),
    # --- LLM providers ----------------------------------------------------------------------------
    # https://docs.anthropic.com/en/api/getting-started (sk-ant-api03-..., sk-ant-admin01-...)
    _secret("anthropic_api_key", _HIGH, _token(r"sk-ant-[A-Za-z0-9_-]{32,}", _URLSAFE),
            validate=is_not_placeholder_token,
            glued=(_glued(r"sk-ant-[A-Za-z0-9_-]{32,}"),)),
    # https://platform.openai.com/docs/api-reference/authentication (legacy keys hold "T3BlbkFJ")
    _secret("openai_api_key", _HIGH, _token(_ds(OpenAIDetector) + "[A-Za-z0-9_-]*", _URLSAFE),
            _token(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}", _URLSAFE),
            validate=is_not_placeholder_token,
            glued=(_glued(_ds(OpenAIDetector) + "[A-Za-z0-9_-]*"),
                   _glued(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}"))),
    # https://cloud.google.com/docs/authentication/api-keys
    _secret("google_api_key", _HIGH, _token(r"AIza[0-9A-Za-z_-]{35}", _URLSAFE),
            validate=is_not_placeholder_token,
            glued=(_glued(r"AIza[0-9A-Za-z_-]{35}", fixed_length=True),)),
    # --- code hosting and package registries ------------------------------------------------------
    # https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/
    _secret("github_token", _HIGH, _token(_ds(GitHubTokenDetector)),
            validate=is_not_placeholder_token,
            # GitHub's tokens are base62 after the prefix: a glued one with "_" in it is a
            # symbol (`highs_optionsRNS_7module...`, a mangled C++ name), not a token
            glued=(_glued(r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}", fixed_length=True),)),
    _secret("github_fine_grained_pat", _HIGH, _token(r"github_pat_[A-Za-z0-9_]{60,255}"),
            validate=is_not_placeholder_token, max_length=300,
            glued=(_glued(r"github_pat_[A-Za-z0-9_]{60,255}"),)),
    # https://docs.gitlab.com/ee/security/tokens/#token-prefixes (glpat-, gldt-, glrt-, ...)
    _secret("gitlab_token", _HIGH,
            *(_token(_ds(GitLabTokenDetector, i), _URLSAFE) for i in range(7)),
            validate=is_not_placeholder_token, max_length=1100,
            glued=tuple(_glued(_ds(GitLabTokenDetector, i)) for i in range(7))),
    # https://github.blog/changelog/2021-09-23-npm-has-a-new-access-token-format/ ; legacy .npmrc
    _secret("npm_token", _HIGH, _token(r"npm_[A-Za-z0-9]{36}"),
            r":_authToken\s*=\s*[\"']?(?P<value>[A-Fa-f0-9-]{36}|npm_[A-Za-z0-9]{36})",
            validate=is_not_placeholder_token,
            glued=(_glued(r"npm_[A-Za-z0-9]{36}", fixed_length=True),)),
    # https://pypi.org/help/#apitoken (macaroons: "pypi-" and the base64 of their location caveat)
    _secret("pypi_token", _HIGH, _token(_ds(PypiTokenDetector, 0), _URLSAFE),
            _token(_ds(PypiTokenDetector, 1), _URLSAFE), validate=is_not_placeholder_token,
            glued=(_glued(_ds(PypiTokenDetector, 0)),
                   _glued(_ds(PypiTokenDetector, 1)))),
    # detect-secrets artifactory.py: API tokens "AKC..." and passwords "AP[0-9A-F]..."
    _secret("artifactory_token", _HIGH,
            r"(?:^|[\s=:\"])(?P<value>AKC[a-zA-Z0-9]{10,255})(?:[\s\"]|$)",
            r"(?:^|[\s=:\"])(?P<value>AP[\dABCDEF][a-zA-Z0-9]{8,255})(?:[\s\"]|$)",
            validate=is_random_token, max_length=300),
    # --- messaging, payments, SaaS ----------------------------------------------------------------
    # https://api.slack.com/authentication/token-types
    _secret("slack_token", _HIGH, _token(_ds(SlackDetector, 0), _URLSAFE),
            _token(r"xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]+", _URLSAFE),
            caseless=True, validate=is_not_placeholder_token,
            glued=(_glued(_ds(SlackDetector, 0)),)),
    # https://api.slack.com/messaging/webhooks
    _secret("slack_webhook", _HIGH, _token(_ds(SlackDetector, 1)),
            caseless=True, validate=is_not_placeholder_token),
    # https://docs.stripe.com/keys (live keys only: test-mode keys move no money)
    _secret("stripe_secret_key", _HIGH, _token(_ds(StripeDetector) + "[0-9a-zA-Z]*"),
            validate=is_not_placeholder_token,
            glued=(_glued(_ds(StripeDetector) + "[0-9a-zA-Z]*"),)),
    # https://www.twilio.com/docs/glossary/what-is-a-sid (AC account SID, SK API key SID)
    _secret("twilio_key", _MEDIUM, _token(_ds(TwilioKeyDetector, 0)),
            _token(_ds(TwilioKeyDetector, 1)), validate=is_twilio_sid),
    # https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys
    _secret("sendgrid_api_key", _HIGH, _token(_ds(SendGridDetector), _URLSAFE),
            validate=is_not_placeholder_token,
            glued=(_glued(_ds(SendGridDetector), fixed_length=True),)),
    # https://mailchimp.com/developer/marketing/docs/fundamentals/#api-structure
    _secret("mailchimp_api_key", _HIGH, _token(_ds(MailchimpDetector), _URLSAFE),
            validate=is_not_placeholder_token),
    # https://developer.squareup.com/docs/build-basics/access-tokens
    _secret("square_oauth_secret", _HIGH, _token(_ds(SquareOAuthDetector), _URLSAFE),
            validate=is_not_placeholder_token),
    # https://discord.com/developers/docs/reference#authentication (base64 user id . ts . hmac)
    _secret("discord_bot_token", _HIGH, _token(_ds(DiscordBotTokenDetector), _URLSAFE),
            validate=is_discord_token),
    # https://core.telegram.org/bots/api#authorizing-your-bot (<bot id>:<35 chars>)
    _secret("telegram_bot_token", _HIGH, _token(_ds(TelegramBotTokenDetector), _URLSAFE),
            validate=is_telegram_token),
    # --- IBM, Cloudant, SoftLayer: detect-secrets' assignment-context plugins -------------------
    _secret("cloudant_credentials", _HIGH,
            _assignment("(?:cloudant|cl|clou)", "(?:api)?(?:key|pwd|pw|password|pass|token)",
                        "[0-9a-f]{64}|[a-z]{24}"),
            r"https?://[\w-]{1,64}:(?P<value>[0-9a-f]{64}|[a-z]{24})@[\w-]{1,64}\.cloudant\.com",
            caseless=True, validate=is_random_token, max_length=_ASSIGNMENT_MAX),
    # a prefix is required (detect-secrets allows none): a bare `key = <44 chars>` is left to
    # high_entropy_assignment, which weighs the value's entropy
    _secret("ibm_cloud_iam_key", _HIGH,
            _assignment("(?:ibm[_-]?cloud[_-]?iam|cloud[_-]?iam|ibm[_-]?cloud|ibm[_-]?iam|ibm|iam)"
                        "[_-]?(?:api)?", "(?:key|pwd|password|pass|token)", "[a-zA-Z0-9_-]{44}"),
            caseless=True, validate=is_random_token, max_length=_ASSIGNMENT_MAX),
    _secret("ibm_cos_hmac_secret", _HIGH,
            _assignment("(?:(?:ibm)?[-_]?cos[-_]?(?:hmac)?|)", "secret[-_]?(?:access)?[-_]?key",
                        "[a-f0-9]{48}"),
            caseless=True, validate=is_random_token, max_length=_ASSIGNMENT_MAX),
    _secret("softlayer_api_key", _HIGH,
            _assignment("(?:softlayer|sl)(?:_|-|)(?:api|)", "(?:key|pwd|password|pass|token)",
                        "[a-z0-9]{64}"),
            r"https?://api\.softlayer\.com/soap/v3(?:\.1)?/(?P<value>[a-z0-9]{64})",
            caseless=True, validate=is_random_token, max_length=_ASSIGNMENT_MAX),
    # --- other services, by their tokens' prefixes (vendor_tokens.py) ------------------------
    *(_secret(token.id, token.severity, *(_token(body, _URLSAFE) for body in token.patterns),
              validate=is_vendor_token, max_length=token.max_length)
      for token in VENDOR_TOKENS),
    # --- generic credentials ----------------------------------------------------------------------
    # RFC 7519 / RFC 7515 compact serialisation, and the five-part JWE form (RFC 7516)
    _secret("jwt", _HIGH,
            _token(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"
                   r"(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?", _URLSAFE),
            validate=is_jwt,
            glued=(_glued(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"
                          r"(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?"),)),
    # RFC 3986 §3.2.1 userinfo `scheme://user:password@host` (detect-secrets basic_auth.py)
    # detect-secrets' pattern wants a user and leaves out the sub-delimiters RFC 3986 allows in
    # userinfo: `postgres://app:Xk9!q$z@db` and Redis' `redis://:<password>@cache` went out.
    _secret("url_password", _HIGH, _ds(BasicAuthDetector),
            r"://[^:/?#\[\]@\s]*:(?P<value>[^/?#\[\]@\s]+)@", validate=is_url_password),
    # stored password hashes (password_hashes.py): alone, as seed data, fixtures and
    # documentation publish them (alerted); in a credential dump's lines (blocked)
    _secret("password_hash", _LOW,
            *(_token(body, BOUNDARY_CHARS) for body in PASSWORD_HASH_BODIES),
            validate=is_random_hash_part, max_length=MAX_PASSWORD_HASH_CHARS),
    _secret("password_hash_dump", _HIGH, *PASSWORD_DUMP_LINES,
            validate=is_random_hash_part, max_length=MAX_PASSWORD_HASH_CHARS),
    # RFC 7617 `Authorization: Basic base64(user:password)`
    _secret("basic_auth_header", _HIGH,
            r"(?:^|[^A-Za-z0-9_])basic +(?P<value>[A-Za-z0-9+/]{6,}={0,2})(?:[^A-Za-z0-9+/=]|$)",
            caseless=True, validate=is_basic_credentials),
    # a random-looking value assigned to a secret-sounding key, or sent as a bearer token
    _secret("high_entropy_assignment", _MEDIUM,
            rf"(?:{_KEY_WORDS}){_ASSIGN}{_ASSIGNED_VALUE}",
            rf"(?:{_KEY_WORDS}){_ASSIGN_SIGN}{_DOUBLE_QUOTED_VALUE}",
            rf"(?:{_KEY_WORDS}){_ASSIGN_SIGN}{_SINGLE_QUOTED_VALUE}",
            # No sign, in the formats that put none: white space (`.netrc`'s `password ...`,
            # Java properties, `--password ...`, `set -x TOKEN ...`), a table's `|` or a tab
            # (see _SIGNLESS_KEY_WORDS), YAML's `value:` on the line after a name (Kubernetes
            # `env`), and SQL's `IDENTIFIED BY '...'`; the value must still look random
            rf"(?:^|[\s|`\"'])[A-Za-z0-9_.-]{{0,32}}(?:{_SIGNLESS_KEY_WORDS})[\"'`]?"
            rf"(?:[ \t]{{1,3}}|[ \t]{{0,3}}[|\t][ \t]{{0,3}})[\"'`]?"
            rf"(?P<value>{_SIGNLESS_FIRST}{_SIGNLESS_VALUE}{{7,255}})"
            rf"(?:[\s\"'`|;&]|$)",
            rf"(?:{_KEY_WORDS})[\"']?[ \t]{{0,3}}\r?\n[ \t]{{0,16}}value[ \t]{{0,3}}:[ \t]{{0,3}}"
            rf"[\"']?{_ASSIGNED_VALUE}",
            rf"identified[ \t]{{1,3}}by[ \t]{{1,3}}{_SINGLE_QUOTED_VALUE}",
            # a PostgreSQL password file line, `host:port:database:user:password` (port a
            # number or `*`): the password is the rest of the line, with no `:` (one is written
            # `\:`, and such a password is not found: `12:30:45:00:00:12345678` is no line)
            r"(?:^|[\n\x00])[A-Za-z0-9._*\[\]-]+:(?:[0-9]+|\*):[A-Za-z0-9._*$-]+"
            r":[A-Za-z0-9._@*$-]+:(?P<value>[^\s:]{8,256})(?:[\r\n\x00]|$)",
            # JSON: a name/value pair whose name is a secret's (tags, CloudFormation parameters,
            # container env: `{"Key": "DB_PASSWORD", "Value": "..."}`), and a secret's value
            # wrapped once (DynamoDB's `{"password": {"S": "..."}}`, `{"token": ["..."]}`)
            rf"\"(?:key|name|parameter[_-]?(?:key|name))\"\s{{0,3}}:\s{{0,3}}\"[A-Za-z0-9_.-]{{0,32}}"
            rf"(?:{_KEY_WORDS})\"\s{{0,3}},\s{{0,3}}\"(?:value|parameter[_-]?value|secret[_-]?value)\""
            rf"\s{{0,3}}:\s{{0,3}}{_DOUBLE_QUOTED_VALUE}",
            rf"\"[A-Za-z0-9_.-]{{0,32}}(?:{_KEY_WORDS})\"\s{{0,3}}:\s{{0,3}}"
            rf"(?:\{{\s{{0,3}}\"[A-Za-z]{{1,8}}\"\s{{0,3}}:|\[)\s{{0,3}}{_DOUBLE_QUOTED_VALUE}",
            # the same pair with the value first (`{"value": "...", "name": "API_TOKEN"}`: an
            # object's members in any order, as JavaScript and jq print them)
            rf"\"(?:value|parameter[_-]?value|secret[_-]?value)\"\s{{0,3}}:\s{{0,3}}"
            rf"{_DOUBLE_QUOTED_VALUE}\s{{0,3}},\s{{0,3}}\"(?:key|name|parameter[_-]?(?:key|name))\""
            rf"\s{{0,3}}:\s{{0,3}}\"[A-Za-z0-9_.-]{{0,32}}(?:{_KEY_WORDS})\"",
            # a password given to a command as `-p` (`mysql -p...`, `sshpass -p`,
            # `docker login -u me -p ...`) or after a user name (`curl -u me:...`)
            rf"(?:mysql(?:dump|admin)?|mariadb|sshpass|docker[ \t]+login|podman[ \t]+login)"
            rf"[^\n|;&]{{0,80}}[ \t]-p[ \t]?[\"']?{_ASSIGNED_VALUE}",
            rf"(?:[ \t]-u|--user)[ \t=][\"']?[A-Za-z0-9._@-]{{1,64}}:{_ASSIGNED_VALUE}",
            # the same in other clients: `redis-cli -a`, `ldapsearch -w`, `smbclient -U me%...`,
            # `htpasswd -b file me ...`, PowerShell's `ConvertTo-SecureString "..." -AsPlainText`
            rf"redis-cli[^\n|;&]{{0,80}}[ \t]-a[ \t]{{1,3}}[\"']?{_ASSIGNED_VALUE}",
            rf"ldap(?:search|add|modify|delete|passwd|whoami)[^\n|;&]{{0,120}}[ \t]-w[ \t]{{1,3}}"
            rf"[\"']?{_ASSIGNED_VALUE}",
            rf"smbclient[^\n|;&]{{0,80}}[ \t]-U[ \t]{{0,3}}[\"']?[A-Za-z0-9._@\\-]{{1,64}}%"
            rf"{_ASSIGNED_VALUE}",
            rf"htpasswd[ \t]{{1,3}}-[A-Za-z]{{0,4}}b[A-Za-z]{{0,4}}[ \t]{{1,3}}[^\s]{{1,64}}"
            rf"[ \t]{{1,3}}[A-Za-z0-9._@-]{{1,32}}[ \t]{{1,3}}[\"']?{_ASSIGNED_VALUE}",
            rf"ConvertTo-SecureString[ \t]{{1,3}}(?:-String[ \t]{{1,3}})?{_DOUBLE_QUOTED_VALUE}",
            rf"ConvertTo-SecureString[ \t]{{1,3}}(?:-String[ \t]{{1,3}})?{_SINGLE_QUOTED_VALUE}",
            r"(?:^|[^A-Za-z0-9_])bearer {1,4}(?P<value>[A-Za-z0-9._~+/-]{16,256}={0,2})"
            r"(?:[^A-Za-z0-9._~+/=-]|$)",
            # XML: an element named like a secret (Maven's `<password>...</password>`), and an
            # entry whose key names one (`<add key="ApiKey" value="..."/>`, NuGet and .NET
            # appSettings; `<entry key="secret">...</entry>`, Java's XML properties)
            rf"<[A-Za-z0-9_.:-]{{0,32}}(?:{_KEY_WORDS})(?:\s[^<>]{{0,64}})?>\s{{0,3}}"
            rf"(?:<!\[CDATA\[)?(?P<value>[^{_VALUE_STOP}]{{8,256}})\s{{0,3}}(?:\]\]>)?</",
            rf"(?:key|name)\s{{0,3}}=\s{{0,3}}[\"'][A-Za-z0-9_.:-]{{0,32}}(?:{_KEY_WORDS})[\"']"
            rf"(?:\s{{1,3}}value\s{{0,3}}=\s{{0,3}}[\"']|\s{{0,3}}>\s{{0,3}}){_ASSIGNED_VALUE}",
            caseless=True, validate=is_high_entropy_secret, context_deny=_HASH_OR_PUBLIC_KEY,
            max_length=360),
    # --- personal data ----------------------------------------------------------------------------
    # RFC 5322 addr-spec, simplified. After "/" or ":" it is URL userinfo (ssh://git@host,
    # https://user:pw@host), not a person, unless the ":" ends "mailto:"; after "=" it is one
    # (`?to=jane@example.org`, `EMAIL=...`: 20 addresses in a query passed). Not after "\": in
    # a JSON or code string `\n@register.x` is a line break and a decorator, not `n@register.x`
    # (the decoded JSON string is scanned too, so `\nuser@example.org` is still found there).
    _pii("email", _LOW,
         rf"(?:^|[^A-Za-z0-9._%+/:\\-]|mailto:)(?P<value>{_EMAIL})(?:[^A-Za-z0-9_@:-]|$)",
         validate=is_email, max_length=340),
    # ISO/IEC 7812 numbers, 13-19 digits with spaces or dashes; issuers start with 2-6 (which also
    # keeps millisecond timestamps, 1xxxxxxxxxxxx, out of the candidates)
    _pii("payment_card", _HIGH,
         # groups separated by a space (or two), "-", ".", "/", "_" or an en or em dash
         # After a path's "/" or an identifier's "_" too (`/v1/cards/<card>`, `card_<card>`);
         # not after a letter or a digit (hex: a digest's decimal stretch), ".", "+" or "-" (a
         # decimal, an exponent, a negative number; `id-<card>` as well: telling a word's "-"
         # apart cost the scanner a fifth of its speed). Before "_", and "." or "-" that no
         # digit follows, as well.
         r"(?:^|[^0-9A-Za-z.+-])"
         r"(?P<value>[2-6](?:(?:[ ./_-]| {2}|\xe2\x80[\x93\x94])?[0-9]){12,18})"
         r"(?:[^0-9A-Za-z.-]|$|[.-](?:[^0-9]|$))",
         # after a dump's offset or another group of hex digits (xxd, hexdump, od -x): a line
         # of two-byte groups that happen to be decimal digits passes Luhn one time in ten;
         # and a bare JSON number under a key that does not name a card (`"id": ...`): random
         # 16-digit ids pass Luhn and an issuer prefix 4 times in 100 (json_fields.py reads
         # the decoded numbers by the same rule)
         # (a dump's lines in a raw JSON string follow a literal `\n`: red team honest4)
         left_deny=r"(?:^|[^0-9A-Za-z]|\\[nrt])[0-9A-Fa-f]{4,8}:? \Z"
                   rf"|\"(?!{CARD_KEY_WORDS})[^\"\\]{{0,40}}\"\s*:\s*\Z",
         validate=is_payment_card),
    # https://www.ssa.gov/employer/randomization.html (AAA-GG-SSSS, with dashes or spaces)
    _pii("us_ssn", _HIGH,
         # after a path's "/" or an identifier's "_" too (`/u/<ssn>`, `ssn_<ssn>`), and before "_"
         r"(?:^|[^0-9A-Za-z.+-])(?P<value>[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}"
         r"|[0-9]{3}\xe2\x80\x93[0-9]{2}\xe2\x80\x93[0-9]{4})"
         r"(?:[^0-9A-Za-z-]|$|\.(?:[^0-9]|$))",
         # nine digits with no separator only after a key that names an SSN (`"ssn":
         # "536221234"`, `SSN,536221234`): alone, any nine-digit number would do
         rf"(?:^|[^A-Za-z])(?:{_SSN_KEY})[\"']?"
         r"(?:[ \t]{0,8}[:=,|\t][ \t]{0,8}|[ \t]{1,3})[\"']?(?P<value>[0-9]{9})(?:[^0-9]|$)",
         validate=is_us_ssn),
    # ISO 13616: country, two check digits, up to 30 alphanumerics, optionally in groups of four
    _pii("iban", _MEDIUM,
         # after and before an identifier's "_" too (`acct_<iban>`)
         r"(?:^|[^A-Za-z0-9])(?P<value>[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30})(?:[^A-Za-z0-9]|$)",
         validate=is_iban),
    # ITU-T E.164 with "+", or NANP national forms; dates, versions and bare digit runs never match
    _pii("phone_number", _LOW,
         r"(?:^|[^0-9A-Za-z_+/.-])(?P<value>\+[1-9](?:[ .()-]{0,2}[0-9]){6,14})"
         r"(?:[^0-9A-Za-z_.-]|$|[.-](?:[^0-9A-Za-z]|$))",
         r"(?:^|[^0-9A-Za-z_.+/:-])(?P<value>(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[-. ])"
         r"[2-9][0-9]{2}[-. ][0-9]{4})(?:[^0-9A-Za-z_.-]|$|[.-](?:[^0-9A-Za-z]|$))",
         validate=is_phone_number),
)

# The scanner reports this id when a text holds more candidates than it will validate: fail closed.
SCAN_LIMIT_ID = "scan_limit"
SCAN_LIMIT = _secret(SCAN_LIMIT_ID, _CRITICAL)

DETECTORS_BY_ID: Mapping[str, Detector] = MappingProxyType(
    {d.id: d for d in (*ALL_DETECTORS, SCAN_LIMIT)}
)
