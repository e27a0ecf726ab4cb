"""How well the tunnelling detector separates tunnels from ordinary names.

`python -m proxy.dns.evaluate` prints the per-query detection rate on generated iodine-, dnscat2-
and base64-style names, the false-positive rate on ordinary names (CDN and cloud hostnames, long
human labels), and how many queries a tunnel gets through before the sliding window stops it.
Names are judged as the server judges them under the wildcard rules of `WILDCARDS` (several sit
on a public suffix, where the labels an attacker chooses start right under the suffix). The
corpus is generated from a fixed seed, so the figures are reproducible.
"""

from __future__ import annotations

import base64
import random
import string
import sys
from collections.abc import Iterator

from proxy.dns.names import name_info
from proxy.dns.scope import detection_scope
from proxy.dns.tunnelling import query_signals
from proxy.dns.windows import TunnelDetector
from proxy.policy.dns_model import TunnellingPolicy
from proxy.policy.hosts import HostPattern

SEED = 4
# Wildcard allow rules the corpus is judged under: the first five sit on public suffixes.
WILDCARDS = tuple(HostPattern.parse(text) for text in (
    "*.githubusercontent.com", "*.github.io", "*.cloudfront.net", "*.netlify.app",
    "*.herokuapp.com", "*.amazonaws.com", "*.attacker.example"))
# Tunnel payloads right under a public-suffix wildcard (the labels the PSL calls registered).
PSL_TUNNEL_BASES = ("githubusercontent.com", "github.io", "cloudfront.net", "netlify.app",
                    "herokuapp.com")
_IODINE32 = "abcdefghijklmnopqrstuvwxyz012345"  # iodine's own base32 alphabet
_WORDS = ["api", "build", "cache", "cdn", "data", "deploy", "dev", "edge", "eu", "files", "git",
          "images", "internal", "login", "mail", "media", "mirror", "prod", "registry",
          "release", "static", "status", "storage", "test", "us", "west", "www"]


def _labels(text: str, size: int = 63) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def tunnel_names(rng: random.Random, count: int = 300) -> Iterator[tuple[str, bytes]]:
    """(family, wire-ready name) of generated tunnel queries."""
    for i in range(count):
        payload = rng.randbytes(rng.randint(12, 110))
        family = ("dnscat2", "iodine-base32", "iodine-base128", "base64", "base32")[i % 5]
        if family == "dnscat2":
            labels = _labels(payload.hex())
            domain = "c2.attacker.example"
        elif family == "iodine-base32":
            text = "".join(rng.choice(_IODINE32) for _ in range(len(payload) * 8 // 5))
            labels = _labels("p" + text)
            domain = "t.attacker.example"
        elif family == "iodine-base128":
            raw = bytes(rng.randint(0xBC, 0xFD) for _ in range(len(payload)))
            yield family, b".".join([b"r" + raw[:62], b"t", b"attacker", b"example"])
            continue
        elif family == "base64":
            labels = _labels(base64.urlsafe_b64encode(payload).decode().rstrip("="))
            domain = "x.attacker.example"
        else:
            labels = _labels(base64.b32encode(payload).decode().rstrip("=").lower())
            domain = "exfil.attacker.example"
        yield family, ".".join([*labels, domain]).encode()


def psl_tunnel_names(rng: random.Random, count: int = 100) -> Iterator[tuple[str, bytes]]:
    """Tunnel queries whose payload sits right under a public-suffix wildcard's base."""
    for i in range(count):
        payload = rng.randbytes(rng.randint(12, 110))
        family = ("dnscat2", "base32", "iodine-base128", "base64")[i % 4]
        base = rng.choice(PSL_TUNNEL_BASES)
        if family == "iodine-base128":
            raw = bytes(rng.randint(0xBC, 0xFD) for _ in range(len(payload)))
            yield f"psl-{family}", b".".join([b"r" + raw[:62], base.encode()])
            continue
        if family == "dnscat2":
            text = payload.hex()
        elif family == "base64":
            text = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        else:
            text = base64.b32encode(payload).decode().rstrip("=").lower()
        yield f"psl-{family}", ".".join([*_labels(text), base]).encode()


ORDINARY = [
    "www.google.com", "storage.googleapis.com", "oauth2.googleapis.com",
    "us-central1-docker.pkg.dev", "my-service-abc123xyz-uc.a.run.app",
    "r3---sn-4g5e6nz7.googlevideo.com", "rr5---sn-q4flrnek.googlevideo.com",
    "d1a2b3c4d5e6f7.cloudfront.net", "dkdtq8bm3xqfg.cloudfront.net",
    "ec2-3-4-5-6.compute-1.amazonaws.com", "ec2-54-210-167-99.us-west-2.compute.amazonaws.com",
    "ip-10-0-12-34.eu-west-1.compute.internal",
    "my-load-balancer-1234567890.us-west-2.elb.amazonaws.com",
    "internal-k8s-default-abcdef0123-1234567890.eu-west-1.elb.amazonaws.com",
    "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    "a3k7odshaiipe8-ats.iot.us-east-1.amazonaws.com",
    "mydb.c9akciq32xyz.us-east-1.rds.amazonaws.com", "my-bucket.s3.us-west-2.amazonaws.com",
    "github-production-release-asset-2e65be.s3.amazonaws.com",
    "objects.githubusercontent.com", "raw.githubusercontent.com", "codeload.github.com",
    "pkg-containers.githubusercontent.com", "files.pythonhosted.org", "registry.npmjs.org",
    "registry-1.docker.io", "production.cloudflare.docker.com", "auth.docker.io",
    "e12345.dscb.akamaiedge.net", "a1234.g.akamai.net", "e6858.dsce9.akamaiedge.net",
    "myapp-7f3a9c.azurewebsites.net", "mystorageaccount123.blob.core.windows.net",
    "prodstorageaccount2024ab.blob.core.windows.net",
    "myaks-dns-1a2b3c4d.hcp.eastus.azmk8s.io", "login.microsoftonline.com",
    "5f3c2a1b9d8e7f0012345678--my-site.netlify.app",
    "my-app-git-feature-branch-myteam.vercel.app", "app-name-1a2b3c4d5e6f.herokuapp.com",
    "_3639ac514e785e898d2646601fa951d5.example.com", "_acme-challenge.www.example.org",
    "this-is-a-very-long-but-perfectly-normal-label.example.com",
    "customer-portal-staging-environment-eu-west.internal.example.net",
    "kubernetes-dashboard-production-cluster-01.svc.example.com",
    "api.anthropic.com", "api.openai.com", "generativelanguage.googleapis.com",
    "sentry.io", "o123456.ingest.sentry.io", "browser-intake-datadoghq.com",
    # A known false positive: EKS API endpoints are named by a 32-hex-digit cluster id.
    "A95FBC180B680B58A6468EF929D6B9F2.gr7.us-west-2.eks.amazonaws.com",
    "xn--bcher-kva.example", "xn--80ak6aa92e.com", "time.cloudflare.com",
    "1.2.3.4.in-addr.arpa", "_http._tcp.example.com", "crl3.digicert.com", "ocsp.pki.goog",
]
# Ordinary names under public-suffix wildcards (*.githubusercontent.com, *.github.io, ...).
PSL_ORDINARY = [
    "raw.githubusercontent.com", "avatars.githubusercontent.com",
    "user-images.githubusercontent.com",
    "private-user-images.githubusercontent.com", "release-assets.githubusercontent.com",
    "camo.githubusercontent.com", "media.githubusercontent.com", "gist.githubusercontent.com",
    "octocat.github.io", "my-org-docs.github.io", "pages.github.io", "www.react-docs.github.io",
    "d3rlzzxlkffcpc.cloudfront.net", "d1234.cloudfront.net", "dkx8ypzq13x2a.cloudfront.net",
    "my-site-2024.netlify.app", "deploy-preview-123--my-site.netlify.app",
    "stormy-citadel-12345.herokuapp.com", "shielded-ridge-88123.herokuapp.com",
]


def ordinary_names(rng: random.Random, count: int = 300) -> Iterator[bytes]:
    """The listed names, then generated hostnames in the shapes clouds and people give them."""
    for name in ORDINARY:
        yield name.encode()
    for _ in range(count - len(ORDINARY)):
        shape = rng.randrange(4)
        if shape == 0:  # human, hyphenated, sometimes long
            label = "-".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 6)))
            name = f"{label}.{rng.choice(_WORDS)}.example.com"
        elif shape == 1:  # CloudFront-style distribution id
            ident = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(13))
            name = f"d{ident}.cloudfront.net"
        elif shape == 2:  # EC2 public DNS name
            octets = "-".join(str(rng.randint(1, 254)) for _ in range(4))
            name = f"ec2-{octets}.{rng.choice(['us-east-2', 'eu-west-1'])}.compute.amazonaws.com"
        else:  # versioned, numbered hosts
            name = f"{rng.choice(_WORDS)}{rng.randint(1, 99)}-{rng.choice(_WORDS)}.example.net"
        yield name.encode()


def psl_ordinary_names(rng: random.Random, count: int = 100) -> Iterator[bytes]:
    """Listed and generated names under the public-suffix wildcards of `WILDCARDS`."""
    for name in PSL_ORDINARY:
        yield name.encode()
    alphabet = string.ascii_lowercase + string.digits
    for _ in range(count - len(PSL_ORDINARY)):
        shape = rng.randrange(4)
        if shape == 0:  # GitHub Pages: a user or organisation name
            name = f"{'-'.join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))}.github.io"
        elif shape == 1:  # CloudFront distribution id straight under the suffix
            name = f"d{''.join(rng.choice(alphabet) for _ in range(13))}.cloudfront.net"
        elif shape == 2:  # Heroku / Netlify generated app names
            name = (f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}-{rng.randint(10000, 99999)}."
                    f"{rng.choice(['herokuapp.com', 'netlify.app'])}")
        else:
            name = f"{rng.choice(_WORDS)}{rng.randint(1, 9)}.githubusercontent.com"
        yield name.encode()


def _signals(name: bytes, policy: TunnellingPolicy) -> tuple[str, ...]:
    labels = tuple(name.split(b"."))
    scope = detection_scope(labels, name_info(labels), WILDCARDS)
    return tuple(query_signals(scope.chosen, sum(len(x) + 1 for x in labels), policy))


def window_queries_until_blocked(policy: TunnellingPolicy, labels_per_query: int = 1) -> int:
    """How many small, individually innocent queries (12 hex characters of payload each) one
    client gets to a domain before the window flags it."""
    clock = [0.0]
    detector = TunnelDetector(policy, lambda: clock[0])
    rng = random.Random(SEED)  # noqa: S311 - a reproducible corpus, not a secret
    for sent in range(1, 100_000):
        sub = ".".join(rng.randbytes(6).hex() for _ in range(labels_per_query))
        clock[0] += 0.05
        if detector.observe("client", "attacker.example", sub, 1):
            return sent
    return -1


def evaluate(policy: TunnellingPolicy | None = None) -> dict[str, float]:
    policy = policy or TunnellingPolicy()
    rng = random.Random(SEED)  # noqa: S311 - a reproducible corpus, not a secret
    tunnels = list(tunnel_names(rng))
    tunnels += psl_tunnel_names(random.Random(SEED + 1))  # noqa: S311 - reproducible
    detected: dict[str, list[bool]] = {}
    for family, name in tunnels:
        detected.setdefault(family, []).append(bool(_signals(name, policy)))
    ordinary = list(ordinary_names(rng))
    ordinary += psl_ordinary_names(random.Random(SEED + 1))  # noqa: S311 - reproducible
    false_positives = [name for name in ordinary if _signals(name, policy)]
    results = {f"detection_{family}": sum(hits) / len(hits) for family, hits in detected.items()}
    results["detection_all"] = sum(sum(h) for h in detected.values()) / len(tunnels)
    results["false_positive_rate"] = len(false_positives) / len(ordinary)
    results["ordinary_names"] = float(len(ordinary))
    results["tunnel_names"] = float(len(tunnels))
    results["window_queries_until_blocked"] = float(window_queries_until_blocked(policy))
    return results


def false_positives(policy: TunnellingPolicy | None = None) -> list[tuple[str, tuple[str, ...]]]:
    policy = policy or TunnellingPolicy()
    rng = random.Random(SEED)  # noqa: S311 - a reproducible corpus, not a secret
    list(tunnel_names(rng))
    found = []
    ordinary = [*ordinary_names(rng), *psl_ordinary_names(random.Random(SEED + 1))]  # noqa: S311
    for name in ordinary:
        signals = _signals(name, policy)
        if signals:
            found.append((name.decode(), signals))
    return found


def main() -> int:
    for key, value in evaluate().items():
        print(f"{key:32} {value:.3f}" if value <= 1 else f"{key:32} {int(value)}")
    for name, signals in false_positives():
        print(f"false positive: {name} {','.join(signals)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
