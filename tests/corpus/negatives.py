"""Near misses: text that looks like a secret or PII to a careless detector but is neither."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import random
import string
import struct
import zlib
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from stdnum import ean, iban, isbn, luhn

from tests.corpus import fakes, keys
from tests.corpus.fakes import ALNUM, HEX, LOWER_DIGITS, UPPER32, chars

Negative = tuple[str, str]  # (carrier, text)
Maker = Callable[[random.Random], Negative]
LOWER = string.ascii_lowercase
LETTERS = string.ascii_letters
WORDS = [
    "the", "build", "passes", "on", "main", "but", "integration", "job", "times", "out", "when",
    "cache", "is", "cold", "so", "we", "retry", "step", "twice", "and", "pin", "runner", "image",
    "until", "upstream", "fix", "lands", "next", "week", "while", "reviewers", "check",
    "migration", "plan", "for", "reporting", "tables", "release", "notes", "draft",
]  # fmt: skip
PACKAGES = ["left-pad", "lodash", "react-dom", "chalk", "esbuild", "zod", "axios", "semver"]
PY_PACKAGES = ["requests", "urllib3", "certifi", "idna", "attrs", "pydantic", "click", "rich"]


def _hex(rng: random.Random, n: int) -> str:
    return chars(rng, HEX, n)


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _digest(rng: random.Random, algo: str) -> bytes:
    return hashlib.new(algo, rng.randbytes(64)).digest()


def _b64digest(rng: random.Random, algo: str) -> str:
    return base64.b64encode(_digest(rng, algo)).decode()


def _version(rng: random.Random) -> str:
    return f"{rng.randrange(1, 9)}.{rng.randrange(0, 20)}.{rng.randrange(0, 9)}"


def git_sha(rng: random.Random) -> Negative:
    """Commit ids in git output, commands and API bodies."""
    sha, parent = _hex(rng, 40), _hex(rng, 40)
    log = _lines(
        f"commit {sha}",
        f"Merge: {parent[:7]} {_hex(rng, 7)}",
        "Date:   Mon Mar 4 10:12:55 2024 +0100",
        "",
        f"    {_sentence(rng, 8)}",
    )
    api = {"ref": "refs/heads/main", "sha": sha, "parents": [{"sha": parent}]}
    return rng.choice(
        [
            ("git_log", log),
            ("shell", f"git fetch origin && git checkout {sha} && git cherry-pick {parent}\n"),
            ("json_body", json.dumps(api)),
            ("chat_message", f"bisect says {sha[:12]} is the first bad commit, reverting {parent}"),
        ]
    )


def hash_hex(rng: random.Random) -> Negative:
    """SHA-1, SHA-256 and SHA-512 digests in checksum files, configs and API bodies."""
    algo = rng.choice(["sha1", "sha256", "sha512"])
    digest = _digest(rng, algo).hex()
    name = f"{rng.choice(PY_PACKAGES)}-{rng.randrange(1, 9)}.{rng.randrange(0, 30)}.tar.gz"
    return rng.choice(
        [
            ("shell", f"{digest}  {name}\n"),
            ("yaml_config", _lines("artifact:", f"  file: {name}", f"  checksum: {algo}:{digest}")),
            ("json_body", json.dumps({"file": name, "hash": digest, "algorithm": algo.upper()})),
            ("shell", f"{algo.upper()} ({name}) = {digest}\n"),
            ("env_file", _lines(f"BUILD_{algo.upper()}={digest}", "BUILD_NUMBER=417")),
        ]
    )


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{rng.choice('89ab')}{h[17:20]}-{h[20:]}"


def uuid(rng: random.Random) -> Negative:
    """UUIDs as request ids, object ids and Kubernetes uids."""
    u = _uuid(rng)
    headers = _lines(f"X-Request-ID: {u}", f"X-Correlation-ID: {_uuid(rng)}", "Accept: */*")
    k8s = _lines(
        "metadata:",
        f"  name: worker-{_hex(rng, 5)}",
        f"  uid: {u}",
        f'  resourceVersion: "{rng.randrange(10**6, 10**7)}"',
    )
    log = f"2024-05-02T11:04:12Z INFO job={u} session_id={_uuid(rng)} finished"
    return rng.choice(
        [
            ("http_headers", headers),
            ("json_body", json.dumps({"id": u, "tenant_id": _uuid(rng), "status": "active"})),
            ("yaml_config", k8s),
            ("log_line", log),
        ]
    )


def _sri(rng: random.Random, algo: str) -> str:
    return f"{algo}-{_b64digest(rng, algo)}"


def sri(rng: random.Random) -> Negative:
    """Subresource-integrity attributes in HTML."""
    algo = rng.choice(["sha256", "sha384", "sha512"])
    lib = rng.choice(["jquery-3.7.1.min.js", "bootstrap.bundle.min.js", "htmx.min.js"])
    integrity = f'integrity="{_sri(rng, algo)}"'
    tag = rng.choice(
        [
            f'<script src="https://cdn.jsdelivr.net/npm/{lib}" {integrity} crossorigin></script>',
            f'<link rel="stylesheet" href="/static/app.css" {integrity}>',
        ]
    )
    return "html", _lines("<!doctype html>", "<head>", f"  {tag}", "</head>")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + data))
    return struct.pack(">I", len(data)) + kind + data + crc


def _png(rng: random.Random, size: int) -> bytes:
    """A real PNG with random RGB pixels."""
    rows = b"".join(b"\x00" + rng.randbytes(size * 3) for _ in range(size))
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
    idat = _png_chunk(b"IDAT", zlib.compress(rows, 9))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + _png_chunk(b"IEND", b"")


def _gif(rng: random.Random, size: int) -> bytes:
    """A real GIF89a: 128-colour random palette, random pixels as literal 8-bit LZW codes."""
    codes: list[int] = []
    for i in range(size * size):
        if i % 100 == 0:
            codes.append(128)  # clear code keeps the code width at 8 bits
        codes.append(rng.randrange(128))
    data = bytes([*codes, 129])  # end of information
    pieces = [data[i : i + 255] for i in range(0, len(data), 255)]
    blocks = b"".join(bytes([len(piece)]) + piece for piece in pieces)
    screen = struct.pack("<HHBBB", size, size, 0xF6, 0, 0)
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, size, size, 0) + b"\x07" + blocks + b"\x00"
    return b"GIF89a" + screen + rng.randbytes(128 * 3) + image + b"\x3b"


def data_uri(rng: random.Random) -> Negative:
    """Base64 PNG/GIF images inlined in CSS, HTML and Markdown."""
    if rng.random() < 0.6:
        uri = "data:image/png;base64," + base64.b64encode(_png(rng, rng.randrange(4, 9))).decode()
    else:
        uri = "data:image/gif;base64," + base64.b64encode(_gif(rng, rng.randrange(4, 9))).decode()
    icon = rng.choice(["warn", "ok", "info"])
    return rng.choice(
        [
            ("css", _lines(f".icon-{icon} {{", f"  background-image: url({uri});", "}")),
            ("html", f'<img alt="status" width="16" height="16" src="{uri}">'),
            ("markdown", f"Build status: ![badge]({uri})\n"),
            ("json_body", json.dumps({"avatar": uri, "display_name": "build bot"})),
        ]
    )


def _ident(rng: random.Random) -> str:
    return rng.choice(LOWER) + rng.choice(["", rng.choice(LETTERS + "$_")])


def minified_js(rng: random.Random) -> Negative:
    """A line of minified JavaScript with short names and long string tables."""
    a, b, c, d = (_ident(rng) for _ in range(4))
    words = (chars(rng, LETTERS, rng.randrange(3, 9)) for _ in range(6))
    table = ",".join(json.dumps(w) for w in words)
    shift, mask = rng.randrange(2, 9), rng.randrange(256, 65536)
    version = f"{rng.randrange(1, 5)}.{rng.randrange(0, 20)}.{rng.randrange(0, 9)}"
    parts = [
        f'!function({a},{b}){{"use strict";var {c}=[{table}],{d}={a}.document;',
        f"function {_ident(rng)}({a}){{return {a}.replace(/[A-Z]/g,",
        f'function({b}){{return"-"+{b}.toLowerCase()}})}}',
        f'{d}.addEventListener("DOMContentLoaded",function(){{{c}.forEach(function({b},{a}){{',
        f"{b}&&({b}={a}<<{shift}^{mask})}})}});",
        f'{a}.exports={{version:"{version}",hash:"{_hex(rng, 8)}"}}}}(window);',
    ]
    return "javascript", "".join(parts)


IDENTIFIERS = [
    ("password", "get_password_from_vault(user_id)"),
    ("api_key", 'os.environ["OPENAI_API_KEY"]'),
    ("token", 'request.headers.get("Authorization", "").removeprefix("Bearer ")'),
    ("client_secret", "settings.oauth.clientSecret"),
    ("passwordResetTokenExpirySeconds", "3600"),
    ("apiKeyHeaderName", '"X-Api-Key"'),
    ("MAX_RETRY_BACKOFF_MILLISECONDS", "30_000"),
    ("secret_manager_client", "SecretManagerServiceClient()"),
    ("getUserAccountSettingsByOrganizationId", "async (orgId) => repo.findSettings(orgId)"),
    ("AWS_SECRET_ACCESS_KEY_ENV_VAR_NAME", '"AWS_SECRET_ACCESS_KEY"'),
    ("authTokenRefreshIntervalInMilliseconds", "15 * 60 * 1000"),
    ("stripe_publishable_key_setting_name", '"STRIPE_PUBLISHABLE_KEY"'),
]


def identifiers(rng: random.Random) -> Negative:
    """camelCase and snake_case names that mention secrets without holding one."""
    picks = rng.sample(IDENTIFIERS, 3)
    if rng.random() < 0.5:
        body = [f"    {name} = {expr}" for name, expr in picks]
        return "code_snippet", _lines("def configure(user_id: str) -> None:", *body)
    body = [f"  const {name} = {expr};" for name, expr in picks]
    return "code_snippet", _lines("export function configure(userId) {", *body, "}")


AWS_DOC_PAIRS = [
    ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"),
]


def docs_example_keys(rng: random.Random) -> Negative:
    """The example credentials printed in AWS documentation."""
    key_id, secret = rng.choice(AWS_DOC_PAIRS)
    ini = _lines(
        "[default]",
        f"aws_access_key_id = {key_id}",
        f"aws_secret_access_key = {secret}",
        "region = us-west-2",
    )
    env = _lines(f"AWS_ACCESS_KEY_ID={key_id}", f"AWS_SECRET_ACCESS_KEY={secret}")
    doc = _lines(
        "Configure the CLI (example values):",
        "```",
        "$ aws configure",
        f"AWS Access Key ID [None]: {key_id}",
        f"AWS Secret Access Key [None]: {secret}",
        "```",
    )
    code = f'boto3.client("s3", aws_access_key_id="{key_id}", aws_secret_access_key="{secret}")\n'
    options = [("ini_file", ini), ("env_file", env), ("markdown", doc), ("code_snippet", code)]
    return rng.choice(options)


def _package_lock(rng: random.Random, pkg: str, ver: str) -> str:
    entry = {
        "version": ver,
        "resolved": f"https://registry.npmjs.org/{pkg}/-/{pkg}-{ver}.tgz",
        "integrity": _sri(rng, "sha512"),
        "dev": True,
    }
    lock = {"name": "web", "lockfileVersion": 3, "packages": {f"node_modules/{pkg}": entry}}
    return json.dumps(lock, indent=2)


def _yarn_lock(rng: random.Random, pkg: str, ver: str) -> str:
    return _lines(
        f'"{pkg}@^{ver}":',
        f'  version "{ver}"',
        f'  resolved "https://registry.yarnpkg.com/{pkg}/-/{pkg}-{ver}.tgz#{_hex(rng, 40)}"',
        f"  integrity {_sri(rng, 'sha1')}",
    )


def _poetry_lock(rng: random.Random, py: str, ver: str) -> str:
    return _lines(
        "[[package]]",
        f'name = "{py}"',
        f'version = "{ver}"',
        "files = [",
        f'    {{file = "{py}-{ver}-py3-none-any.whl", hash = "sha256:{_hex(rng, 64)}"}},',
        f'    {{file = "{py}-{ver}.tar.gz", hash = "sha256:{_hex(rng, 64)}"}},',
        "]",
    )


def _cargo_lock(rng: random.Random, ver: str) -> str:
    return _lines(
        "[[package]]",
        'name = "serde_json"',
        f'version = "{ver}"',
        'source = "registry+https://github.com/rust-lang/crates.io-index"',
        f'checksum = "{_hex(rng, 64)}"',
    )


def _go_sum(rng: random.Random) -> str:
    minor = rng.randrange(10, 30)
    return _lines(
        f"golang.org/x/net v0.{minor}.0 h1:{_b64digest(rng, 'sha256')}",
        f"golang.org/x/net v0.{minor}.0/go.mod h1:{_b64digest(rng, 'sha256')}",
    )


def _pipfile_lock(rng: random.Random, py: str, ver: str) -> str:
    hashes = [f"sha256:{_hex(rng, 64)}", f"sha256:{_hex(rng, 64)}"]
    return json.dumps({py: {"hashes": hashes, "version": f"=={ver}"}}, indent=4)


def lockfile(rng: random.Random) -> Negative:
    """Excerpts of package-lock.json, yarn.lock, poetry.lock, Cargo.lock, go.sum, Pipfile.lock."""
    pkg, py, ver = rng.choice(PACKAGES), rng.choice(PY_PACKAGES), _version(rng)
    return rng.choice(
        [
            ("package_lock", _package_lock(rng, pkg, ver)),
            ("yarn_lock", _yarn_lock(rng, pkg, ver)),
            ("poetry_lock", _poetry_lock(rng, py, ver)),
            ("cargo_lock", _cargo_lock(rng, ver)),
            ("go_sum", _go_sum(rng)),
            ("pipfile_lock", _pipfile_lock(rng, py, ver)),
        ]
    )


def docker_digest(rng: random.Random) -> Negative:
    """Image digests in compose files, pull commands and registry answers."""
    digest = f"sha256:{_hex(rng, 64)}"
    image = rng.choice(["nginx", "python", "postgres", "ghcr.io/acme/api", "redis"])
    compose = _lines("services:", "  web:", f"    image: {image}@{digest}", "    ports: [8080]")
    media = "application/vnd.oci.image.config.v1+json"
    manifest = {"schemaVersion": 2, "config": {"mediaType": media, "digest": digest, "size": 4242}}
    dockerfile = _lines(f"FROM {image}:3.12-slim@{digest}", "RUN pip install -r requirements.txt")
    return rng.choice(
        [
            ("yaml_config", compose),
            ("shell", f"docker pull {image}@{digest}\n"),
            ("json_body", json.dumps(manifest)),
            ("dockerfile", dockerfile),
        ]
    )


PLACEHOLDERS = [
    "password=changeme", "token: ${TOKEN}", "api_key: <your-key>", 'password: "********"',
    "API_KEY=your_api_key_here", "secret: {{ .Values.secret }}", "password=%(DB_PASSWORD)s",
    'token = "$GITHUB_TOKEN"', "api_key: xxxxxxxxxxxxxxxxxxxxxxxx", "password: REPLACE_ME",
    '"api_key": ""', "token: null", "client_secret=<CLIENT_SECRET>", "password = os.getenv('PW')",
    "AWS_SECRET_ACCESS_KEY=${{ secrets.AWS_SECRET_ACCESS_KEY }}", "token: ${env:CI_JOB_TOKEN}",
    "password: !vault |", "OPENAI_API_KEY=sk-...", "ANTHROPIC_API_KEY=sk-ant-xxxxx",
    "GITHUB_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "api_key: 'INSERT_KEY_HERE'",
    "secret_key = 'django-insecure-change-me'", "token: TODO",
]  # fmt: skip


def placeholder(rng: random.Random) -> Negative:
    """Settings whose value is a placeholder, a variable reference or empty."""
    lines = rng.sample(PLACEHOLDERS, 2)
    return "config", _lines("# copy to .env and fill in", *lines, f"timeout={rng.randrange(5, 60)}")


def versions_dates(rng: random.Random) -> Negative:
    """Version strings, dates, timestamps and build numbers (not phone numbers)."""
    epoch = 1_700_000_000 + rng.randrange(60_000_000)
    when = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    v = f"{rng.randrange(1, 30)}.{rng.randrange(0, 40)}.{rng.randrange(0, 300)}"
    ms = epoch * 1000 + rng.randrange(1000)
    api = {"version": v, "created_at": when.isoformat(), "ts": epoch, "ts_ms": ms}
    log = f"{when:%Y-%m-%d %H:%M:%S},{rng.randrange(1000):03d} INFO started build "
    log += f"{when:%Y%m%d}.{rng.randrange(1, 99)} of v{v}+build.{when:%Y%m%d%H%M}"
    headers = _lines(
        f"Date: {when:%a, %d %b %Y %H:%M:%S} GMT",
        f"Last-Modified: {when:%a, %d %b %Y} 08:00:00 GMT",
        f"X-Build: {rng.randrange(10**9, 10**10)}",
    )
    changelog = _lines(
        f"## [{v}] - {when:%Y-%m-%d}",
        f"- Windows build 10.0.{rng.randrange(19041, 22631)}.{rng.randrange(1000, 4000)} supported",
        f"- released {when:%d/%m/%Y} at {when:%H:%M}",
    )
    shell = _lines(
        "$ python --version",
        f"Python 3.{rng.randrange(8, 14)}.{rng.randrange(0, 12)}",
        "$ date +%s%N",
        f"{epoch}{rng.randrange(10**8, 10**9)}",
    )
    return rng.choice(
        [
            ("json_body", json.dumps(api)),
            ("log_line", log),
            ("http_headers", headers),
            ("changelog", changelog),
            ("shell", shell),
        ]
    )


def _luhn_fail(rng: random.Random, length: int) -> str:
    body = rng.choice(["4", "5", "3", "6"]) + chars(rng, string.digits, length - 2)
    bad = (int(luhn.calc_check_digit(body)) + rng.randrange(1, 10)) % 10
    return body + str(bad)


def luhn_fail_numbers(rng: random.Random) -> Negative:
    """16-digit numbers that fail the Luhn check: tracking numbers, transaction ids."""
    n = _luhn_fail(rng, 16)
    amount = rng.randrange(100, 99999) / 100
    grouped = " ".join(n[i : i + 4] for i in range(0, 16, 4))
    return rng.choice(
        [
            ("json_body", json.dumps({"transaction_id": n, "amount": amount, "currency": "EUR"})),
            ("chat_message", f"the parcel tracking number is {grouped}, arriving Tuesday"),
            ("log_line", f"payment gateway ref={n} status=settled"),
        ]
    )


def order_ids(rng: random.Random) -> Negative:
    """Order, invoice and ticket numbers."""
    year = rng.randrange(2019, 2026)
    order = {"order_id": f"ORD-{year}-{rng.randrange(10**5, 10**6)}", "items": rng.randrange(1, 9)}
    invoice = f"INV{year}{rng.randrange(10**6, 10**7)}"
    rows = [
        f"{rng.randrange(10**9, 10**10)},{year}-0{rng.randrange(1, 10)}-1{rng.randrange(10)},"
        f"{rng.randrange(5, 500)}.00"
        for _ in range(3)
    ]
    return rng.choice(
        [
            ("json_body", json.dumps(order)),
            ("chat_message", f"invoice {invoice} is unpaid, see #{rng.randrange(10**4, 10**5)}"),
            ("csv", _lines("order,placed,total", *rows)),
        ]
    )


def isbns(rng: random.Random) -> Negative:
    """Book references with valid ISBN-13 and ISBN-10 numbers."""
    body = "978" + chars(rng, string.digits, 9)
    isbn13 = body + ean.calc_check_digit(body)
    cite = f"See Designing Data-Intensive Applications (ISBN {isbn.format(isbn13)}), chapter 3."
    bibtex = _lines(
        f"@book{{ref{rng.randrange(100)},",
        "  title = {Systems Performance},",
        f"  isbn = {{{isbn13}}},",
        f"  note = {{ISBN-10 {isbn.to_isbn10(isbn13)}}}",
        "}",
    )
    return "markdown", rng.choice([cite, bibtex])


def iban_bad_checksum(rng: random.Random) -> Negative:
    """IBAN-shaped strings whose mod-97 check fails."""
    good = iban.compact(fakes.iban_number(rng))
    bad = good
    while iban.is_valid(bad):
        bad = f"{good[:2]}{rng.randrange(2, 99):02d}{good[4:]}"
    return rng.choice(
        [
            ("json_body", json.dumps({"reference": bad, "note": "invalid on purpose"})),
            ("chat_message", f"the form rejects {iban.format(bad)} (checksum error), as expected"),
        ]
    )


def commit_author(rng: random.Random) -> Negative:
    """A single commit author line: one email address in a commit is normal."""
    name, email = fakes.person(rng)
    log = _lines(
        f"commit {_hex(rng, 40)}",
        f"Author: {name} <{email}>",
        "Date:   Tue Apr 2 09:15:00 2024 +0200",
        "",
        f"    {_sentence(rng, 7)}",
    )
    return "git_log", log


def base64_english(rng: random.Random) -> Negative:
    """Base64 of ordinary English prose, as an API stores file content."""
    prose = " ".join(_sentence(rng, rng.randrange(6, 14)) for _ in range(rng.randrange(2, 5)))
    encoded = base64.b64encode(prose.encode()).decode()
    body = {"path": "docs/NOTES.md", "encoding": "base64", "content": encoded}
    return "json_body", json.dumps(body)


def public_identifiers(rng: random.Random) -> Negative:
    """Values meant to be public: publishable keys, OAuth client ids, ARNs, request ids."""
    account = chars(rng, string.digits, 12)
    client = f"{account}-{chars(rng, LOWER_DIGITS, 32)}.apps.googleusercontent.com"
    arns = _lines(
        f"role_arn: arn:aws:iam::{account}:role/ci-deploy",
        f"bucket_arn: arn:aws:s3:::acme-artifacts-{account}",
    )
    headers = _lines(
        f"x-amz-request-id: {chars(rng, UPPER32, 16)}",
        f"x-amz-id-2: {base64.b64encode(rng.randbytes(48)).decode()}",
        f'ETag: "{_hex(rng, 32)}"',
    )
    return rng.choice(
        [
            ("html", f"<script>Stripe('pk_live_{chars(rng, ALNUM, 24)}')</script>"),
            ("json_body", json.dumps({"client_id": client})),
            ("yaml_config", arns),
            ("http_headers", headers),
        ]
    )


def pagination_cursor(rng: random.Random) -> Negative:
    """Opaque base64url JSON cursors in URLs (eyJ… but not a JWT)."""
    state = {"offset": rng.randrange(20, 2000), "sort": "created_at"}
    cursor = fakes.b64url(json.dumps(state).encode())
    return "url", f"https://api.vendor-cloud.net/v2/items?limit=50&cursor={cursor}&include=owner"


def urls_without_password(rng: random.Random) -> Negative:
    """URLs with a user name but no password, or credentials taken from the environment."""
    clone = "git clone https://deploy@git.corp.example.net/platform/infra.git && cd infra"
    env = _lines(
        "DATABASE_URL=postgresql://app@db.internal.corp:5432/orders?sslmode=require",
        f"REDIS_URL=redis://cache.internal.corp:6379/{rng.randrange(16)}",
    )
    return rng.choice(
        [
            ("shell", clone),
            ("env_file", env),
            ("yaml_config", "broker: amqp://${MQ_USER}:${MQ_PASSWORD}@mq.corp.lan:5672/%2F\n"),
            ("url", f"https://docs.vendor-cloud.net/guide/auth?section={rng.randrange(20)}#basic"),
        ]
    )


def ssn_like(rng: random.Random) -> Negative:
    """NNN-NN-NNNN shapes that break the SSA rules (area 000, 666, 9xx; group 00; serial 0000)."""
    group, serial = rng.randrange(10, 99), rng.randrange(1000, 9999)
    area = rng.randrange(100, 600)
    bad = rng.choice(
        [
            f"000-{group}-{serial}",
            f"666-{group}-{serial}",
            f"9{rng.randrange(10, 99)}-{group}-{serial}",
            f"{area}-00-{serial}",
            f"{area}-{group}-0000",
        ]
    )
    csv = _lines("part,qty", f"{bad},{rng.randrange(1, 50)}")
    return rng.choice([("csv", csv), ("log_line", f"sku={bad} restocked")])


def public_keys(rng: random.Random) -> Negative:
    """Public halves: SSH authorized_keys lines, PUBLIC KEY blocks, certificates."""
    key = keys.ed25519_key(rng)
    openssh = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    spki = (
        keys.ec_key(rng, ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return rng.choice(
        [
            ("authorized_keys", f"{openssh.decode()} ci@runner-{rng.randrange(1, 9)}\n"),
            ("pem", spki.decode()),
            ("pem", _certificate(rng, key)),
        ]
    )


def _certificate(rng: random.Random, key: ed25519.Ed25519PrivateKey) -> str:
    """A self-signed Ed25519 certificate (Ed25519 signatures are deterministic)."""
    common_name = f"svc-{rng.randrange(100)}.corp.lan"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=rng.randrange(300))
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(rng.getrandbits(64) + 1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
    )
    return builder.sign(key, None).public_bytes(serialization.Encoding.PEM).decode()


def non_secret_entropy(rng: random.Random) -> Negative:
    """High-entropy values under names that are not secrets: nonces, hashes, fingerprints, etags."""
    nonce = base64.b64encode(rng.randbytes(16)).decode()
    script = f"<script nonce=\"{nonce}\">window.APP_BUILD='{_hex(rng, 7)}'</script>"
    csp = _lines(
        f"Content-Security-Policy: script-src 'self' '{_sri(rng, 'sha256')}'",
        f'ETag: W/"{_hex(rng, 40)}"',
    )
    fingerprint = _lines("The key fingerprint is:", f"SHA256:{_b64digest(rng, 'sha256')[:43]} ci")
    hashes = {"content_hash": _hex(rng, 64), "blob_sha": _hex(rng, 40), "md5": _hex(rng, 32)}
    return rng.choice(
        [
            ("html", script),
            ("http_headers", csp),
            ("shell", fingerprint),
            ("json_body", json.dumps(hashes)),
        ]
    )


def at_sign_lookalikes(rng: random.Random) -> Negative:
    """Several `x@y` shapes that are not addresses: retina images, scoped packages, git remotes."""
    n = rng.randrange(2, 5)
    css = [
        f".hero-{i} {{ background: url(img/hero-{i}@{rng.randrange(2, 4)}x.png); }}"
        for i in range(n)
    ]
    pkgs = [
        f'"@{rng.choice(["babel", "types", "vitejs"])}/{p}@^{_version(rng)}"' for p in PACKAGES[:n]
    ]
    remotes = [
        f"origin\tgit@github.com:acme/{rng.choice(PACKAGES)}.git (fetch)",
        f"mirror\tssh://git@gitlab.corp.lan:2222/platform/{rng.choice(PY_PACKAGES)}.git (push)",
    ]
    code = _lines("@app.route('/health')", "@login_required", "def health():", "    return 'ok'")
    return rng.choice(
        [
            ("css", _lines(*css)),
            ("yarn_lock", _lines(*(f"{p}:" for p in pkgs))),
            ("shell", _lines("$ git remote -v", *remotes)),
            ("code_snippet", code),
        ]
    )


NEGATIVE_MAKERS: list[tuple[str, Maker, int]] = [
    ("git_sha", git_sha, 22),
    ("hash_hex", hash_hex, 26),
    ("uuid", uuid, 20),
    ("sri", sri, 16),
    ("data_uri", data_uri, 18),
    ("minified_js", minified_js, 14),
    ("identifiers", identifiers, 16),
    ("docs_example_keys", docs_example_keys, 12),
    ("lockfile", lockfile, 24),
    ("docker_digest", docker_digest, 16),
    ("placeholder", placeholder, 20),
    ("versions_dates", versions_dates, 24),
    ("luhn_fail", luhn_fail_numbers, 14),
    ("order_ids", order_ids, 14),
    ("isbn", isbns, 10),
    ("iban_bad_checksum", iban_bad_checksum, 12),
    ("commit_author", commit_author, 10),
    ("base64_english", base64_english, 12),
    ("public_identifiers", public_identifiers, 16),
    ("pagination_cursor", pagination_cursor, 8),
    ("urls_without_password", urls_without_password, 12),
    ("ssn_like", ssn_like, 12),
    ("public_keys", public_keys, 12),
    ("non_secret_entropy", non_secret_entropy, 16),
    ("at_sign_lookalikes", at_sign_lookalikes, 10),
]
