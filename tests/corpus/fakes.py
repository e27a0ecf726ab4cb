"""Fake but format-valid credentials and personal data, drawn from a seeded RNG.

Every value here is invented: the right prefix, length, alphabet and checksum, never a live secret.
"""

from __future__ import annotations

import base64
import json
import random
import string
import zlib

import phonenumbers
from stdnum import iban, luhn
from stdnum.us import ssn

UPPER32 = string.ascii_uppercase + "234567"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"
LOWER_DIGITS = string.ascii_lowercase + string.digits

FIRST_NAMES = [
    "Amelia", "Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Gustavo", "Hana", "Ivan", "Jonas",
    "Keiko", "Liam", "Marta", "Nikhil", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tariq",
    "Ursula", "Viktor", "Wen", "Ximena", "Yusuf", "Zofia",
]  # fmt: skip
LAST_NAMES = [
    "Andersen", "Baptiste", "Castellano", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvath",
    "Ivanova", "Jansen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quispe", "Rossi", "Schneider", "Tanaka", "Uchenna", "Varga", "Weber", "Yilmaz", "Zhang",
]  # fmt: skip
MAIL_DOMAINS = [
    "northwind-traders.com", "bluepeak-logistics.de", "harbourline.co.uk", "meridian-health.org",
    "velvetfox.io", "granite-labs.net", "suncrest-foods.fr", "orbitpay.eu",
]  # fmt: skip


def chars(rng: random.Random, alphabet: str, n: int) -> str:
    """`n` characters drawn uniformly from `alphabet`."""
    return "".join(rng.choice(alphabet) for _ in range(n))


def _base62_crc(data: str) -> str:
    """GitHub/npm token checksum: CRC32 of the random part, base62, six characters."""
    n, out = zlib.crc32(data.encode()), ""
    while n:
        n, r = divmod(n, 62)
        out = BASE62[r] + out
    return out.rjust(6, "0")


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWTs and macaroons use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def aws_access_key_id(rng: random.Random, prefix: str = "AKIA") -> str:
    """AKIA/ASIA + 16 characters of [A-Z2-7]."""
    return prefix + chars(rng, UPPER32, 16)


def aws_temporary_key_id(rng: random.Random) -> str:
    """ASIA + 16 characters: an STS temporary credential's key id."""
    return aws_access_key_id(rng, "ASIA")


def aws_secret_access_key(rng: random.Random) -> str:
    """40 characters of base64 alphabet."""
    return chars(rng, B64, 40)


def github_token(rng: random.Random, prefix: str) -> str:
    """ghp_/gho_/ghu_/ghs_ + 30 random characters + a 6-character CRC32 checksum."""
    body = chars(rng, ALNUM, 30)
    return f"{prefix}{body}{_base62_crc(body)}"


def github_remote_url(rng: random.Random) -> str:
    """A git remote with an Actions installation token (ghs_) as its password."""
    repo = rng.choice(["platform/infra", "acme/web", "data/pipelines"])
    return f"https://x-access-token:{github_token(rng, 'ghs_')}@github.com/{repo}.git"


def github_fine_grained_pat(rng: random.Random) -> str:
    """github_pat_ + 22 + '_' + 59 characters."""
    return f"github_pat_11{chars(rng, UPPER32, 20)}_{chars(rng, ALNUM, 59)}"


def gitlab_pat(rng: random.Random) -> str:
    """glpat- + 20 characters of [A-Za-z0-9_-]."""
    return "glpat-" + chars(rng, URLSAFE, 20)


def slack_bot_token(rng: random.Random) -> str:
    """xoxb-<team>-<bot>-<24 alnum>."""
    team, bot = chars(rng, string.digits, 12), chars(rng, string.digits, 13)
    return f"xoxb-{team}-{bot}-{chars(rng, ALNUM, 24)}"


def slack_user_token(rng: random.Random) -> str:
    """xoxp-<team>-<user>-<app>-<32 hex>."""
    ids = "-".join(chars(rng, string.digits, n) for n in (12, 12, 13))
    return f"xoxp-{ids}-{chars(rng, HEX, 32)}"


def slack_webhook(rng: random.Random) -> str:
    """https://hooks.slack.com/services/T…/B…/<24 alnum>."""
    team, hook = chars(rng, UPPER32, 10), chars(rng, UPPER32, 10)
    return f"https://hooks.slack.com/services/T{team}/B{hook}/{chars(rng, ALNUM, 24)}"


def stripe_secret_key(rng: random.Random) -> str:
    """sk_live_ + 24 characters (legacy) or 51… + 97 characters (current)."""
    if rng.random() < 0.5:
        return "sk_live_" + chars(rng, ALNUM, 24)
    return "sk_live_51" + chars(rng, ALNUM, 97)


def openai_project_key(rng: random.Random) -> str:
    """sk-proj- + 74 + 'T3BlbkFJ' + 74 characters of [A-Za-z0-9_-]."""
    return f"sk-proj-{chars(rng, URLSAFE, 74)}T3BlbkFJ{chars(rng, URLSAFE, 74)}"


def anthropic_key(rng: random.Random) -> str:
    """sk-ant-api03- + 93 characters of [A-Za-z0-9_-] + 'AA'."""
    return f"sk-ant-api03-{chars(rng, URLSAFE, 93)}AA"


def google_api_key(rng: random.Random) -> str:
    """AIza + 35 characters of [A-Za-z0-9_-]."""
    return "AIza" + chars(rng, URLSAFE, 35)


def npm_token(rng: random.Random) -> str:
    """npm_ + 30 random characters + a 6-character CRC32 checksum."""
    body = chars(rng, ALNUM, 30)
    return f"npm_{body}{_base62_crc(body)}"


def _macaroon_field(kind: int, data: bytes) -> bytes:
    return bytes([kind, len(data)]) + data


def pypi_token(rng: random.Random) -> str:
    """pypi- + base64url of a v2 macaroon for pypi.org (starts 'pypi-AgEIcHlwaS5vcmc')."""
    ident = json.dumps({"version": 1, "nonce": chars(rng, HEX, 32)}).encode()
    caveat = json.dumps({"permissions": "user", "version": 1}).encode()
    raw = b"\x02" + _macaroon_field(1, b"pypi.org") + _macaroon_field(2, ident) + b"\x00"
    raw += _macaroon_field(2, caveat) + b"\x00\x00" + _macaroon_field(6, rng.randbytes(32))
    return "pypi-" + b64url(raw)


def jwt(rng: random.Random) -> str:
    """header.payload.signature with real base64url JSON in the first two parts."""
    alg = rng.choice(["HS256", "RS256", "ES256"])
    header = {"alg": alg, "typ": "JWT"} if rng.random() < 0.7 else {"typ": "JWT", "alg": alg}
    iat = 1_700_000_000 + rng.randrange(50_000_000)
    payload = {"sub": chars(rng, string.digits, 9), "iat": iat, "exp": iat + 3600}
    if rng.random() < 0.5:
        payload["scope"] = "read:repo write:issues"
    sig_len = {"HS256": 32, "RS256": 256, "ES256": 64}[alg]
    parts = [json.dumps(p, separators=(",", ":")).encode() for p in (header, payload)]
    return ".".join([b64url(parts[0]), b64url(parts[1]), b64url(rng.randbytes(sig_len))])


def azure_account_key(rng: random.Random) -> str:
    """88-character base64 of 64 random bytes."""
    return base64.b64encode(rng.randbytes(64)).decode()


def azure_conn_string(rng: random.Random) -> str:
    """DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;EndpointSuffix=…."""
    account = chars(rng, string.ascii_lowercase + string.digits, 14)
    return (
        f"DefaultEndpointsProtocol=https;AccountName={account};"
        f"AccountKey={azure_account_key(rng)};EndpointSuffix=core.windows.net"
    )


def password(rng: random.Random, n: int = 24) -> str:
    """A strong random password without shell or URL metacharacters."""
    return chars(rng, ALNUM + "_.-", n)


def url_with_password(rng: random.Random) -> str:
    """A connection URL with an embedded user and password."""
    user = rng.choice(["app", "deploy", "svc_reports", "admin", "ci-bot"])
    host = rng.choice(["db.internal.corp", "10.12.4.7", "pg-prod-1.cluster.local", "mq.corp.lan"])
    pw = chars(rng, ALNUM, rng.randrange(16, 28))
    return rng.choice(
        [
            f"postgresql://{user}:{pw}@{host}:5432/orders",
            f"mysql://{user}:{pw}@{host}:3306/app",
            f"amqp://{user}:{pw}@{host}:5672/%2F",
            f"https://{user}:{pw}@git.corp.example.net/platform/infra.git",
            f"mongodb+srv://{user}:{pw}@cluster0.{chars(rng, LOWER_DIGITS, 5)}.mongodb.net/prod",
            f"redis://default:{pw}@{host}:6379/0",
        ]
    )


def high_entropy_value(rng: random.Random) -> str:
    """A random token as a generic API key, session secret or password would be."""
    kind = rng.choice(["alnum", "b64", "urlsafe"])
    n = rng.randrange(24, 48)
    if kind == "b64":
        return base64.b64encode(rng.randbytes(n)).decode()
    return chars(rng, ALNUM if kind == "alnum" else URLSAFE, n)


# --- personal data -------------------------------------------------------------------------------

# (IIN prefix, length): Visa, Mastercard (51-55, 2221-2720), Amex, Discover, JCB, Diners, UnionPay
CARD_IINS = [
    ("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15),
    ("37", 15), ("6011", 16), ("65", 16), ("3530", 16), ("36", 14), ("62", 16),
]  # fmt: skip


def card_number(rng: random.Random) -> str:
    """A Luhn-valid card number with a real IIN prefix, grouped as printed on the card."""
    prefix, length = rng.choice(CARD_IINS)
    body = prefix + chars(rng, string.digits, length - len(prefix) - 1)
    digits = body + luhn.calc_check_digit(body)
    sep = rng.choice(["", " ", "-"])
    if length == 16:
        groups = [digits[i : i + 4] for i in range(0, 16, 4)]
    else:
        groups = [digits[:4], digits[4:10], digits[10:]]
    return sep.join(groups)


def us_ssn(rng: random.Random) -> str:
    """AAA-GG-SSSS valid under the SSA area/group/serial rules."""
    while True:
        area, group, serial = rng.randrange(1, 900), rng.randrange(1, 100), rng.randrange(1, 10000)
        value = f"{area:03d}-{group:02d}-{serial:04d}"
        if ssn.is_valid(value):
            return value


IBAN_BBANS = {
    "DE": lambda r: chars(r, string.digits, 18),
    "GB": lambda r: chars(r, string.ascii_uppercase, 4) + chars(r, string.digits, 14),
    "NL": lambda r: chars(r, string.ascii_uppercase, 4) + chars(r, string.digits, 10),
    "FR": lambda r: chars(r, string.digits, 23),
    "ES": lambda r: chars(r, string.digits, 20),
    "IT": lambda r: chars(r, string.ascii_uppercase, 1) + chars(r, string.digits, 22),
    "BE": lambda r: chars(r, string.digits, 12),
    "CH": lambda r: chars(r, string.digits, 17),
    "AT": lambda r: chars(r, string.digits, 16),
    "PL": lambda r: chars(r, string.digits, 24),
}


def iban_number(rng: random.Random) -> str:
    """An IBAN with a correct mod-97 check (and a valid national check where stdnum knows one)."""
    while True:
        country = rng.choice(sorted(IBAN_BBANS))
        bban = IBAN_BBANS[country](rng)
        value = country + iban.calc_check_digits(country + "00" + bban) + bban
        if iban.is_valid(value):
            return iban.format(value) if rng.random() < 0.6 else value


PHONE_REGIONS = ["US", "GB", "DE", "FR", "IN", "AU", "BR", "JP", "ES", "CA"]
_PHONE_FORMATS = [phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164]


def phone_number(rng: random.Random) -> str:
    """A number that phonenumbers accepts as valid, in international or E.164 form."""
    while True:
        region = rng.choice(PHONE_REGIONS)
        code = phonenumbers.country_code_for_region(region)
        national = str(rng.randrange(10**8, 10**10))
        parsed = phonenumbers.parse(f"+{code}{national}")
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, rng.choice(_PHONE_FORMATS))


def person(rng: random.Random) -> tuple[str, str]:
    """A fake full name and a matching email address."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randrange(10, 99)}"])
    return f"{first} {last}", f"{local.lower()}@{rng.choice(MAIL_DOMAINS)}"


def customer_csv(rng: random.Random, rows: int) -> str:
    """A customer export: id,name,email,country,signup_date."""
    lines = ["customer_id,name,email,country,signed_up"]
    for i in range(rows):
        name, email = person(rng)
        day = f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        lines.append(f"{10_000 + i * 7},{name},{email},{rng.choice(PHONE_REGIONS)},{day}")
    return "\n".join(lines)


def email_list(rng: random.Random, n: int) -> str:
    """`n` distinct fake addresses, comma-separated."""
    emails: list[str] = []
    while len(emails) < n:
        email = person(rng)[1]
        if email not in emails:
            emails.append(email)
    return ", ".join(emails)
