"""Positive plants: one fake secret or PII value per entry, for every detector family.

A plant's family is the detector id (proxy/inspection/detectors.py) a scanner must report for it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator

from cryptography.hazmat.primitives.asymmetric import ec

from tests.corpus import fakes, keys
from tests.corpus.carriers import ALL_CARRIERS, BLOCK_CARRIERS, CARRIERS, Carrier, Plant, Style

Maker = Callable[[random.Random], Plant]


def _simple(family: str, key: str, make: Callable[[random.Random], str], style: Style) -> Maker:
    return lambda rng: Plant(family, make(rng), key, style)


def _keyed(family: str, keys_: list[str], make: Callable[[random.Random], str]) -> Maker:
    """Plants whose setting name varies: password=, "api_key":, token:."""
    return lambda rng: Plant(family, make(rng), rng.choice(keys_), Style.ASSIGN)


# Published example JWTs (RFC 7519 section 3.1 and jwt.io's default). Labelled positive: they are
# valid JWTs and nothing in a token says "example", so the jwt detector reports them (no allowlist).
DOCS_JWTS = [
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog"
    "Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0"
    "IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fMwpMeJf36POk6yJV_adQssw5c",
]
GENERIC_KEYS = ["api_key", "token", "client_secret", "auth_token"]
A, B, U, M = Style.ASSIGN, Style.BEARER, Style.URL, Style.MENTION
SIMPLE_PLANTS: list[tuple[Maker, int]] = [
    (_simple("aws_access_key", "AWS_ACCESS_KEY_ID", fakes.aws_access_key_id, A), 3),
    (_simple("aws_access_key", "aws_access_key_id", fakes.aws_temporary_key_id, A), 1),
    (_simple("aws_secret_access_key", "aws_secret_access_key", fakes.aws_secret_access_key, A), 3),
    (_simple("github_token", "GITHUB_TOKEN", lambda r: fakes.github_token(r, "ghp_"), B), 2),
    (_simple("github_token", "github_oauth_token", lambda r: fakes.github_token(r, "gho_"), A), 1),
    (_simple("github_token", "remote_url", fakes.github_remote_url, U), 1),
    (_simple("github_fine_grained_pat", "GH_TOKEN", fakes.github_fine_grained_pat, B), 2),
    (_simple("gitlab_token", "GITLAB_TOKEN", fakes.gitlab_pat, B), 2),
    (_simple("slack_token", "SLACK_BOT_TOKEN", fakes.slack_bot_token, B), 2),
    (_simple("slack_token", "slack_user_token", fakes.slack_user_token, A), 1),
    (_simple("slack_webhook", "SLACK_WEBHOOK_URL", fakes.slack_webhook, U), 2),
    (_simple("stripe_secret_key", "STRIPE_SECRET_KEY", fakes.stripe_secret_key, B), 2),
    (_simple("openai_api_key", "OPENAI_API_KEY", fakes.openai_project_key, B), 2),
    (_simple("anthropic_api_key", "ANTHROPIC_API_KEY", fakes.anthropic_key, A), 3),
    (_simple("google_api_key", "GOOGLE_MAPS_KEY", fakes.google_api_key, A), 2),
    (_simple("npm_token", "NPM_TOKEN", fakes.npm_token, B), 2),
    (_simple("pypi_token", "TWINE_PASSWORD", fakes.pypi_token, A), 2),
    (_simple("jwt", "access_token", fakes.jwt, B), 3),
    (_simple("azure_storage_key", "AZURE_STORAGE_CONNECTION", fakes.azure_conn_string, A), 2),
    (_simple("azure_storage_key", "AZURE_STORAGE_KEY", fakes.azure_account_key, A), 1),
    (_simple("url_password", "DATABASE_URL", fakes.url_with_password, U), 3),
    (_keyed("high_entropy_assignment", ["password", "db_password", "secret"], fakes.password), 2),
    (_keyed("high_entropy_assignment", GENERIC_KEYS, fakes.high_entropy_value), 4),
    (_simple("payment_card", "card_number", fakes.card_number, M), 4),
    (_simple("us_ssn", "ssn", fakes.us_ssn, M), 3),
    (_simple("iban", "iban", fakes.iban_number, M), 3),
    (_simple("phone_number", "phone", fakes.phone_number, M), 3),
]


def _email_plants(rng: random.Random) -> Iterator[tuple[Plant, str]]:
    """Bulk emails: customer CSV exports and address lists (one email alone is normal)."""
    for rows in (8, 12):
        csv = fakes.customer_csv(rng, rows)
        yield Plant("email", csv, "customers.csv", Style.BLOCK), "file_upload"
    for carrier in ("json_body", "chat_message"):
        emails = fakes.email_list(rng, rng.randrange(5, 9))
        yield Plant("email", emails, "recipients", Style.MENTION), carrier


def _pem_plants(rng: random.Random) -> Iterator[Plant]:
    """Every PEM/OpenSSH private key kind, from throwaway keys."""
    rsa2048, rsa1024 = keys.rsa_key(rng, 2048), keys.rsa_key(rng, 1024)
    p256, p384 = keys.ec_key(rng, ec.SECP256R1()), keys.ec_key(rng, ec.SECP384R1())
    pems = [
        keys.traditional_pem(rsa2048),
        keys.traditional_pem(p256),
        keys.traditional_pem(keys.dsa_key(rng)),
        keys.pkcs8_pem(rsa1024),
        keys.pkcs8_pem(p384),
        keys.pkcs8_pem(keys.ed25519_key(rng)),
        keys.encrypted_pkcs8_pem(keys.ec_key(rng, ec.SECP256R1()), rng, b"correct horse"),
        keys.encrypted_pkcs8_pem(rsa1024, rng, b"battery staple"),
        keys.openssh_pem(keys.ed25519_key(rng), rng, "dev@build-host"),
        keys.openssh_pem(p256, rng, "ci@runner-7"),
        keys.putty_ppk(keys.ec_key(rng, ec.SECP256R1()), "deploy-key-20240312"),
        keys.pgp_private_key_block(keys.ed25519_key(rng), 1_710_000_000, "Release Signing"),
    ]
    for pem in pems:
        key = rng.choice(["private_key", "ssh_key", "tls_key"])
        yield Plant("private_key", pem, key, Style.BLOCK)
    for _ in range(2):
        gcp = _gcp_json(rng, keys.pkcs8_pem(rsa2048))
        yield Plant("gcp_service_account", gcp, "GOOGLE_CREDENTIALS", Style.BLOCK)


def _gcp_json(rng: random.Random, pem: str) -> str:
    """A service-account key file as the Cloud console hands it out."""
    org, env = rng.choice(["acme", "orbit", "harbor"]), rng.choice(["prod", "data"])
    project = f"{org}-{env}-{rng.randrange(100000, 999999)}"
    robot = rng.choice(["etl-runner", "ci-deployer", "backup"])
    account = f"{robot}@{project}.iam.gserviceaccount.com"
    doc = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": fakes.chars(rng, fakes.HEX, 40),
        "private_key": pem,
        "client_email": account,
        "client_id": fakes.chars(rng, "0123456789", 21),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{account}",
        "universe_domain": "googleapis.com",
    }
    return json.dumps(doc, indent=2)


def _rotate(rng: random.Random, carriers: dict[str, Carrier]) -> Iterator[str]:
    names = sorted(carriers)
    while True:
        rng.shuffle(names)
        yield from names


def plants(rng: random.Random) -> Iterator[tuple[Plant, str]]:
    """Every positive plant with the carrier it goes in."""
    rotation = _rotate(rng, CARRIERS)
    for make, count in SIMPLE_PLANTS:
        for _ in range(count):
            yield make(rng), next(rotation)
    yield from _email_plants(rng)
    for token in DOCS_JWTS:
        yield Plant("jwt", token, "bearer token", Style.MENTION), "docs_markdown"
    block_rotation = _rotate(rng, BLOCK_CARRIERS)
    gcp_carriers = iter(["file_upload", "json_body"])
    for plant in _pem_plants(rng):
        gcp = plant.family == "gcp_service_account"
        yield plant, next(gcp_carriers) if gcp else next(block_rotation)


def render(rng: random.Random, plant: Plant, carrier: str) -> str:
    """The carrier text with the plant in it."""
    return ALL_CARRIERS[carrier](rng, plant)
