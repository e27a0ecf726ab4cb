"""Credentials written into a destination's host name are found before it is resolved."""

from __future__ import annotations

import base64

import pytest

from proxy.inspection.host_secrets import secret_in_host
from proxy.inspection.scanner import Scanner

AWS = "AKIA" + "GVRZQ5CFT3DQ7XB7"  # format-valid, fake
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
HEX = GITHUB.encode().hex()
B32 = base64.b32encode(GITHUB.encode()).decode().lower().rstrip("=")


# ids name the case, never the value: test output must not carry key-shaped strings
@pytest.mark.parametrize(("host", "detector"), [
    pytest.param(f"{AWS}.wild.example", "aws_access_key", id="aws-one-label"),
    pytest.param(f"{AWS.lower()}.wild.example", "aws_access_key", id="aws-lower-case"),
    pytest.param(f"{AWS[:10]}.{AWS[10:]}.wild.example", "aws_access_key", id="aws-two-labels"),
    pytest.param(f"x-{AWS.lower()}-y.wild.example", "aws_access_key", id="aws-hyphen-glued"),
    pytest.param(f"{GITHUB[:20]}.{GITHUB[20:]}.wild.example".replace("_", "-"), None,
                 id="github-prefix-mangled"),  # "ghp-" is not the "ghp_" format
    pytest.param(f"{GITHUB}.wild.example", "github_token", id="github-one-label"),
    # hex or base32 over the labels left of the last two (red team exfil5)
    pytest.param(f"{HEX[:40]}.{HEX[40:]}.wild.example", "github_token", id="github-hex-labels"),
    pytest.param(f"backup-{HEX[:30]}.{HEX[30:]}-prod.wild.example", "github_token",
                 id="github-hex-bucket-like"),
    pytest.param(f"{B32[:30]}.{B32[30:]}.wild.example", "github_token", id="github-base32"),
    pytest.param(f"{AWS.encode().hex()}.wild.example", "aws_access_key", id="aws-hex-label"),
])
def test_a_key_in_a_host_is_found(scanner: Scanner, host: str, detector: str | None) -> None:
    assert secret_in_host(host, scanner) == detector


@pytest.mark.parametrize("host", [
    "ec2-3-94-123-45.compute-1.amazonaws.com",
    "d1234abcdef8.cloudfront.net",
    "r3---sn-abc123xyz.googlevideo.com",
    "storage.googleapis.com",
    "123e4567-e89b-12d3-a456-426614174000.example.com",
    "9fceb02d0ae598e95dc970b74767f19372d61af8.example.com",
    "a95fbc180b680b58a6468ef929d6b9f2.gr7.us-west-2.eks.amazonaws.com",
    pytest.param("4556737586899855.example.com", id="card-shaped-digits"),  # no PII on names
    "pypi.org",
    # near misses: long hex labels that decode to nothing
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.cdn.example",
    "0123456789abcdef0123456789abcdef-0123456789abcdef.s3.amazonaws.com",
])
def test_ordinary_hosts_hold_no_key(scanner: Scanner, host: str) -> None:
    assert secret_in_host(host, scanner) is None
