"""Realistic text around a planted value: JSON body, chat message, code, .env, curl, YAML."""

from __future__ import annotations

import json
import random
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Style(StrEnum):
    """How a value is handed over: assigned, as a bearer token, a URL, a block, a mention."""

    ASSIGN = "assign"
    BEARER = "bearer"
    URL = "url"
    BLOCK = "block"
    MENTION = "mention"


@dataclass(frozen=True)
class Plant:
    """One fake value to hide in carrier text, with the setting name it would live under."""

    family: str
    value: str
    key: str
    style: Style = Style.ASSIGN


SERVICES = ["billing-worker", "ingest-api", "report-builder", "search-indexer", "notifier"]
OPENERS = ["hey, the deploy is failing again.", "Quick question about staging:", "FYI for on-call:"]
HOSTS = ["api.vendor-cloud.net", "internal-gw.corp.lan", "uploads.partner-portal.io"]


def _env_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", key).upper()


def _code_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", key).lower()


def env_file(rng: random.Random, plant: Plant) -> str:
    """A .env file with the value among ordinary settings."""
    name, value = _env_name(plant.key), plant.value
    line = f'{name}="{value}"' if "\n" in value else f"{name}={value}"
    return "\n".join(
        [
            f"# {rng.choice(SERVICES)} - production",
            "APP_ENV=production",
            f"LOG_LEVEL={rng.choice(['info', 'warning', 'debug'])}",
            line,
            f"PORT={rng.choice([8080, 8000, 3000])}",
            "",
        ]
    )


def _yaml_value(value: str, indent: str) -> str:
    if "\n" in value:
        lines = value.strip("\n").splitlines()
        return "|\n" + "\n".join(f"{indent}  {line}" for line in lines)
    if re.search(r"[:#{}\[\],&*!|>'\"%@`]", value) or value[:1] in "-?":
        return "'" + value.replace("'", "''") + "'"
    return value


def yaml_config(rng: random.Random, plant: Plant) -> str:
    """A service's YAML configuration with the value nested inside it."""
    key = _code_name(plant.key)
    return "\n".join(
        [
            "service:",
            f"  name: {rng.choice(SERVICES)}",
            f"  region: {rng.choice(['eu-west-1', 'us-east-2', 'ap-southeast-1'])}",
            "  credentials:",
            f"    {key}: {_yaml_value(plant.value, '    ')}",
            f"  retries: {rng.randrange(2, 6)}",
            "",
        ]
    )


def json_body(rng: random.Random, plant: Plant) -> str:
    """A JSON API request body carrying the value in a settings object."""
    settings: dict[str, object] = {"timeout": rng.choice([10, 30, 60]), plant.key: plant.value}
    body = {"name": rng.choice(SERVICES), "enabled": True, "settings": settings}
    return json.dumps(body, indent=rng.choice([None, 2]))


def code_snippet(rng: random.Random, plant: Plant) -> str:
    """A Python function that hard-codes the value."""
    name, value = _code_name(plant.key), plant.value
    literal = f'"""{value}"""' if "\n" in value else json.dumps(value)
    if plant.style is Style.MENTION:
        record = f'{{"id": {rng.randrange(1000, 9999)}, "status": "verified", "{name}": {literal}}}'
        return f"def fixture_customer() -> dict[str, object]:\n    return {record}\n"
    return "\n".join(
        [
            "import httpx",
            "",
            "",
            f'def make_client(base_url: str = "https://{rng.choice(HOSTS)}") -> httpx.Client:',
            f"    {name} = {literal}",
            f"    return httpx.Client(base_url=base_url, auth=Auth({name}), timeout=30)",
            "",
        ]
    )


def curl_command(rng: random.Random, plant: Plant) -> str:
    """A curl command line that sends the value the way its API expects it."""
    host, value = rng.choice(HOSTS), plant.value
    if plant.style is Style.BEARER:
        return f"curl -sS https://{host}/v1/jobs -H 'Authorization: Bearer {value}'\n"
    if plant.style is Style.URL:
        return f"curl -sS -X POST -H 'Content-Type: application/json' -d '{{}}' '{value}'\n"
    if "\n" in value:
        upload = f"curl -sS -X POST https://{host}/upload -F '{plant.key}=<-' <<'EOF'"
        return f"{upload}\n{value.strip()}\nEOF\n"
    return f"curl -sS -X POST https://{host}/v1/config --data-urlencode '{plant.key}={value}'\n"


def chat_message(rng: random.Random, plant: Plant) -> str:
    """A message pasted into a chat or an issue, quoting the value."""
    opener = rng.choice(OPENERS)
    if "\n" in plant.value:
        return f"{opener} here is the {plant.key} I used:\n```\n{plant.value.strip()}\n```\nideas?"
    if plant.style is Style.MENTION:
        field = plant.key.replace("_", " ")
        return f"{opener} customer record, {field}: {plant.value}. Please double-check."
    if plant.style is Style.ASSIGN:
        return f"{opener} I set `{plant.key}={plant.value}` in the config and it still 401s, why?"
    return f"{opener} I tried {plant.value} and it still 401s, any idea?"


def file_upload(rng: random.Random, plant: Plant) -> str:
    """A raw file (CSV export, key file) as an upload would carry it."""
    return plant.value.strip("\n") + "\n"


def _http_body(rng: random.Random, plant: Plant) -> tuple[str, str]:
    """(content type, body) for an HTTP request carrying the value."""
    if "\n" in plant.value:
        boundary = f"----form{rng.randrange(10**9, 10**10)}"
        part = f'Content-Disposition: form-data; name="file"; filename="{plant.key}"'
        body = f"--{boundary}\r\n{part}\r\n\r\n{plant.value.strip()}\r\n--{boundary}--\r\n"
        return f"multipart/form-data; boundary={boundary}", body
    if plant.style is Style.ASSIGN:
        form = urllib.parse.urlencode({plant.key: plant.value, "region": "eu-west-1"})
        return "application/x-www-form-urlencoded", form
    name = {Style.URL: "callback_url", Style.MENTION: plant.key}.get(plant.style, "credential")
    return "application/json", json.dumps({"name": rng.choice(SERVICES), name: plant.value})


def http_request(rng: random.Random, plant: Plant) -> str:
    """A raw HTTP/1.1 request: bearer tokens in Authorization, the rest in the body."""
    host = rng.choice(HOSTS)
    head = [f"POST /v1/{rng.choice(['jobs', 'imports', 'settings'])} HTTP/1.1", f"Host: {host}"]
    if plant.style is Style.BEARER:
        head.append(f"Authorization: Bearer {plant.value}")
        content_type, body = "application/json", '{"dry_run": false}'
    else:
        content_type, body = _http_body(rng, plant)
    head += [f"Content-Type: {content_type}", f"Content-Length: {len(body.encode())}"]
    return "\r\n".join(head) + "\r\n\r\n" + body


def url_query(rng: random.Random, plant: Plant) -> str:
    """A request URL with the value in its query string, percent-encoded as browsers do."""
    name = {Style.BEARER: "access_token", Style.URL: "redirect_uri"}.get(plant.style, plant.key)
    query = urllib.parse.urlencode({name: plant.value, "format": "json"})
    return f"https://{rng.choice(HOSTS)}/v1/{rng.choice(['report', 'export', 'lookup'])}?{query}"


def docs_markdown(rng: random.Random, plant: Plant) -> str:
    """A documentation page quoting a published example value."""
    return f"## Authentication\n\nExample ({plant.key}):\n\n    {plant.value}\n"


Carrier = Callable[[random.Random, Plant], str]
_COMMON: dict[str, Carrier] = {
    "json_body": json_body,
    "chat_message": chat_message,
    "code_snippet": code_snippet,
    "env_file": env_file,
    "curl_command": curl_command,
    "yaml_config": yaml_config,
    "http_request": http_request,
}
CARRIERS: dict[str, Carrier] = {**_COMMON, "url_query": url_query}  # for one-line values
BLOCK_CARRIERS: dict[str, Carrier] = {**_COMMON, "file_upload": file_upload}  # multi-line
ALL_CARRIERS: dict[str, Carrier] = {**CARRIERS, **BLOCK_CARRIERS, "docs_markdown": docs_markdown}
