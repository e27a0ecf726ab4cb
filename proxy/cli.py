"""The `glassbreak` command: run, dns, ca, env, rules check, audit verify."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from proxy.audit.check import verify_audit
from proxy.audit.log import DEFAULT_MAX_BYTES, MIN_MAX_BYTES
from proxy.audit.verify import Start
from proxy.policy.check import check_rules
from proxy.policy.loader import DEFAULT_RULES_PATH, RuleFileError, load_rules
from proxy.policy.model import Policy
from proxy.runtime.ca import ensure_ca
from proxy.runtime.dns_process import DEFAULT_DNS_LISTEN, DnsRunConfig, parse_dns_listen, run_dns
from proxy.runtime.inspection_pool import DEFAULT_WORKERS, MAX_WORKERS
from proxy.runtime.listen import ListenAddress, parse_listen
from proxy.runtime.paths import StatePaths, default_state_dir
from proxy.runtime.proxy_process import RunConfig, run

DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_ADMIN = "127.0.0.1:9090"

_Parsed = TypeVar("_Parsed")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    result: int = handler(args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glassbreak", description="Egress firewall for sandboxed AI agents."
    )
    commands = parser.add_subparsers(metavar="COMMAND")

    run = commands.add_parser("run", help="start the proxy on a rule file")
    run.add_argument("--rules", type=Path, default=DEFAULT_RULES_PATH,
                     help="rule file (default: the embedded rules/default.yaml)")
    run.add_argument("--listen", default=DEFAULT_LISTEN, help="proxy address, HOST:PORT")
    _state_dir_argument(run)
    run.add_argument("--upstream-ca", type=Path, default=None,
                     help="extra CA certificate (PEM) to trust for upstream TLS")
    run.add_argument("--audit-stdout", action="store_true",
                     help="also write audit lines to stdout")
    _dns_argument(run)
    run.add_argument("--audit-max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                     help="rotate the audit log when it reaches this size (default: "
                     f"{DEFAULT_MAX_BYTES}, at least {MIN_MAX_BYTES})")
    run.add_argument("--admin", default=DEFAULT_ADMIN,
                     help="admin listener for /metrics and /healthz, HOST:PORT, or 'off' "
                     f"(default: {DEFAULT_ADMIN})")
    run.add_argument("--inspection-workers", type=int, default=DEFAULT_WORKERS,
                     help="processes that inspect large requests off the event loop, or 0 to "
                     f"inspect every request on it (default: {DEFAULT_WORKERS})")
    run.set_defaults(handler=_run)

    dns = commands.add_parser("dns", help="start only the DNS server on a rule file")
    dns.add_argument("--rules", type=Path, default=DEFAULT_RULES_PATH,
                     help="rule file (default: the embedded rules/default.yaml)")
    _dns_argument(dns)
    _state_dir_argument(dns)
    dns.add_argument("--audit-stdout", action="store_true",
                     help="also write audit lines to stdout")
    dns.set_defaults(handler=_dns)

    ca = commands.add_parser("ca", help="print the path of the proxy's CA certificate")
    _state_dir_argument(ca)
    ca.set_defaults(handler=_ca)

    env = commands.add_parser("env", help="print the shell exports a sandbox needs")
    _state_dir_argument(env)
    env.add_argument("--proxy", default=f"http://{DEFAULT_LISTEN}", help="proxy URL")
    env.set_defaults(handler=_env)

    rules = commands.add_parser("rules", help="rule file tools")
    rules_commands = rules.add_subparsers(metavar="COMMAND")
    check = rules_commands.add_parser("check", help="validate a rule file")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=_rules_check)

    audit = commands.add_parser("audit", help="audit log tools")
    audit_commands = audit.add_subparsers(metavar="COMMAND")
    verify = audit_commands.add_parser(
        "verify", help="check the audit log's HMAC chain; name the first tampered line")
    verify.add_argument("paths", type=Path, nargs="*", metavar="PATH",
                        help="audit files in chain order, or a state directory (default: the "
                        "state directory's audit.log and its rotated files)")
    verify.add_argument("--key", type=Path, default=None,
                        help="the audit key (default: audit.key beside the last file)")
    verify.add_argument("--from-seq", type=int, default=None, metavar="N",
                        help="the chain legitimately starts at seq N (lines before it were "
                        "archived): the first line checked must have this seq")
    verify.add_argument("--allow-archived", action="store_true",
                        help="accept a chain that starts with the rotate line of the oldest file "
                        "kept (older rotated files archived away)")
    _state_dir_argument(verify)
    verify.set_defaults(handler=_audit_verify)
    return parser


def _state_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="CA, audit log and state (default: $GLASSBREAK_STATE_DIR or "
                        "$XDG_STATE_HOME/glassbreak)")


def _dns_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dns", default=DEFAULT_DNS_LISTEN,
                        help=f"DNS server address, HOST:PORT, or off (default "
                        f"{DEFAULT_DNS_LISTEN})")


def _paths(args: argparse.Namespace) -> StatePaths:
    return StatePaths(args.state_dir or default_state_dir())


class _Refused(Exception):
    """A start-up problem already worded for the operator: print it and exit 2."""


def _rules(path: Path) -> Policy:
    try:
        return load_rules(path)
    except RuleFileError as error:
        raise _Refused(f"refusing to start, the rule file has problems:\n{error}") from None


def _address(flag: str, text: str, parse: Callable[[str], _Parsed]) -> _Parsed:
    try:
        return parse(text)
    except ValueError as error:
        raise _Refused(f"{flag}: {error}") from None


def _start(starter: Callable[[], None]) -> int:
    try:
        starter()
    except _Refused as refused:
        print(f"glassbreak: {refused}", file=sys.stderr)
        return 2
    except OSError as error:  # the port is taken, the state directory is busy or not writable
        print(f"glassbreak: cannot start: {error}", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> int:
    def start() -> None:
        policy = _rules(args.rules)
        listen = _address("--listen", args.listen, parse_listen)
        dns = _address("--dns", args.dns, parse_dns_listen)
        admin = _address("--admin", args.admin, _admin_address)
        if args.audit_max_bytes < MIN_MAX_BYTES:
            raise _Refused(f"--audit-max-bytes must be at least {MIN_MAX_BYTES}")
        if not 0 <= args.inspection_workers <= MAX_WORKERS:
            raise _Refused(f"--inspection-workers must be between 0 and {MAX_WORKERS}")
        run(RunConfig(policy=policy, listen=listen, paths=_paths(args),
                      upstream_ca=args.upstream_ca, audit_stdout=args.audit_stdout,
                      audit_max_bytes=args.audit_max_bytes, admin=admin, dns=dns,
                      inspection_workers=args.inspection_workers))

    return _start(start)


def _dns(args: argparse.Namespace) -> int:
    def start() -> None:
        policy = _rules(args.rules)
        listen = _address("--dns", args.dns, parse_dns_listen)
        if listen is None:
            raise _Refused("--dns off leaves nothing to run")
        run_dns(DnsRunConfig(policy=policy, listen=listen, paths=_paths(args),
                             audit_stdout=args.audit_stdout))

    return _start(start)


def _admin_address(text: str) -> ListenAddress | None:
    return None if text == "off" else parse_listen(text)


def _ca(args: argparse.Namespace) -> int:
    print(ensure_ca(_paths(args)))
    return 0


# Each client reads its CA from a different variable; all point at the proxy's CA.
CA_VARIABLES = (
    "SSL_CERT_FILE",  # OpenSSL, Python ssl, many Go/Rust clients
    "CURL_CA_BUNDLE",  # curl
    "REQUESTS_CA_BUNDLE",  # Python requests
    "PIP_CERT",  # pip
    "NODE_EXTRA_CA_CERTS",  # Node.js
    "GIT_SSL_CAINFO",  # git
)


def _env(args: argparse.Namespace) -> int:
    ca = str(ensure_ca(_paths(args)))
    proxy = args.proxy
    exports = [
        ("HTTPS_PROXY", proxy), ("https_proxy", proxy),
        ("HTTP_PROXY", proxy), ("http_proxy", proxy),
        # Empty: nothing bypasses the proxy, not even "localhost" (the proxy decides that too).
        ("NO_PROXY", ""), ("no_proxy", ""),
    ] + [(name, ca) for name in CA_VARIABLES]
    for name, value in exports:
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _rules_check(args: argparse.Namespace) -> int:
    code, text = check_rules(args.file)
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


def _audit_verify(args: argparse.Namespace) -> int:
    targets = list(args.paths) or [_paths(args).root]
    start = Start(seq=args.from_seq, archived=args.allow_archived)
    code, text = verify_audit(targets, args.key, start=start)
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
