"""Stored password hashes: what `/etc/shadow`, an `.htpasswd`, a user table or a domain
controller's dump holds. A hash is not the password, but a leaked one is cracked offline at the
attacker's pace (a weak password in minutes), so it leaves the sandbox no more than a key does.

Each format is told by its own prefix (crypt(3)'s `$id$`, LDAP's `{SCHEME}`, Django's
`algorithm$`) and the alphabet and length of what follows, which is enough for one hyperscan
pattern each, no context needed. detectors.py builds two detectors from them: `password_hash`
for a hash alone (alerted by default) and `password_hash_dump` for a credential dump's lines
(blocked); is_random_hash_part rejects placeholders (`$2b$12$` and 53 `x`) and a hash part that
is not random.
"""

from __future__ import annotations

import hashlib
import re

# crypt(3)'s alphabet, for salts and hashes ("./0-9A-Za-z"). Salts and parameters of a
# variable length are open-ended: bounded repeats made hyperscan's database too large.
_C = r"[./0-9A-Za-z]"
_B64 = r"[A-Za-z0-9+/]"
_HEX = r"[0-9a-fA-F]"

# The bodies of each format, scheme prefix included; detectors.py puts a boundary around each.
PASSWORD_HASH_BODIES: tuple[str, ...] = (
    # MD5-crypt and Apache's variant (`openssl passwd -1`, `-apr1`, htpasswd -m)
    rf"\$(?:1|apr1)\${_C}{{1,8}}\${_C}{{22}}",
    # SHA-256-crypt and SHA-512-crypt (glibc's `$5$` and `$6$`, with optional rounds)
    rf"\$5\$(?:rounds=[0-9]{{1,9}}\$)?{_C}{{1,16}}\${_C}{{43}}",
    rf"\$6\$(?:rounds=[0-9]{{1,9}}\$)?{_C}{{1,16}}\${_C}{{86}}",
    # bcrypt (`$2a$`, `$2b$`, `$2x$`, `$2y$`, cost, 22 characters of salt and 31 of hash)
    rf"\$2[abxy]?\$[0-9]{{2}}\${_C}{{53}}",
    # yescrypt (Debian's and Fedora's default since 2021), gost-yescrypt, scrypt
    rf"\$g?y\${_C}+\${_C}+\${_C}{{43}}",
    rf"\$7\${_C}{{11,64}}\${_C}{{43}}",
    # Argon2 (PHC string format), also Django's `argon2$argon2id$...`
    rf"(?:argon2)?\$argon2(?:id|i|d)\$(?:v=[0-9]{{1,3}}\$)?m=[0-9]{{1,10}},t=[0-9]{{1,10}},p=[0-9]{{1,3}}"
    rf"\${_B64}{{11,64}}\${_B64}{{16,128}}",
    # PBKDF2: passlib's `$pbkdf2-sha256$` and Django's `pbkdf2_sha256$`
    rf"\$pbkdf2(?:-sha(?:1|256|512))?\$[0-9]+\${_C}+\${_C}{{27,}}",
    rf"pbkdf2_sha(?:1|256)\$[0-9]+\$[A-Za-z0-9]+\${_B64}{{27,}}={{0,2}}",
    # phpass (WordPress, phpBB): `$P$` or `$H$`, a cost character, 8 of salt, 22 of hash
    rf"\$[PH]\${_C}{{31}}",
    # LDAP userPassword: salted and plain SHA digests in base64
    rf"\{{S?SHA(?:256|384|512)?\}}{_B64}{{27,120}}={{0,2}}",
    rf"\{{PBKDF2(?:-SHA(?:1|256|512))?\}}[0-9]+\${_C}+\${_C}{{27,}}",
    # Cisco IOS type 8 (PBKDF2) and type 9 (scrypt) secrets; Drupal 7's `$S$`
    rf"\$[89]\${_C}{{14}}\${_C}{{43}}",
    rf"\$S\${_C}{{52}}",
    # Django's legacy salted SHA-1 and MD5
    r"(?:sha1|md5)\$[A-Za-z0-9]{1,32}\$[0-9a-f]{32,40}",
    # PostgreSQL's verifiers (pg_authid, `pg_dumpall --roles-only`): SCRAM-SHA-256 and md5
    rf"SCRAM-SHA-256\$[0-9]{{1,7}}:{_B64}{{16,64}}={{0,2}}\${_B64}{{43}}=:{_B64}{{43}}=",
    r"md5[0-9a-f]{32}",
    # MySQL: mysql_native_password (`*` and 40 hex digits), caching_sha2_password (printable)
    r"\*[0-9A-F]{40}",
    rf"\$A\$[0-9]{{3}}\$[!-~]{{20}}{_C}{{43}}",
    # SQL Server: 0x0100 (SHA-1) or 0x0200 (SHA-512), 4 bytes of salt, the digest
    r"0x0[12]00[0-9A-Fa-f]{8}(?:[0-9A-Fa-f]{40}|[0-9A-Fa-f]{128})",
)
# What a credential dump prints, attack tooling's output rather than a project's files (the
# `password_hash_dump` detector, blocked; a hash alone is `password_hash`, alerted: seed data,
# fixtures and documentation publish hashes of "password" by the dozen, honest round 3): a line
# of /etc/shadow (`name:<crypt hash>:<last change>:...`), NTLM hashes as secretsdump and pwdump
# print them (`user:rid:LM:NT:::`, the NT hash), captured NetNTLMv2 and v1 responses
# (Responder's `user::DOMAIN:challenge:proof:blob`), Kerberos tickets and AS-REP responses as
# Kerberoasting prints them (`$krb5tgs$23$*user$realm$spn*$<checksum>$<ticket>`, cracked
# offline like a hash), and Cisco's type 7 (a reversible scrambling: the password itself).
# Each has its own `value` group.
PASSWORD_DUMP_LINES: tuple[str, ...] = (
    r"(?:^|[\n\x00])[a-z_][a-z0-9_.-]{0,31}\$?:(?P<value>\$[0-9a-z]{1,6}\$[./0-9A-Za-z$=,]{8,200})"
    r":[0-9]{0,6}:",
    rf":[0-9]{{1,10}}:{_HEX}{{32}}:(?P<value>{_HEX}{{32}}):::",
    rf"::[^\s:]{{0,64}}:{_HEX}{{16}}:(?P<value>{_HEX}{{32}}):{_HEX}{{64}}",
    rf"::[^\s:]{{0,64}}:{_HEX}{{48}}:(?P<value>{_HEX}{{48}}):{_HEX}{{16}}",
    rf"\$krb5(?:tgs|asrep)\$(?:17|18|23)\$[^\s]{{1,200}}[$:](?P<value>{_HEX}{{32}}\${_HEX}{{64}})",
    r"(?:password|secret|key|key-string) 7 (?P<value>[0-9A-F]{12,})(?:[^0-9A-Za-z]|$)",
)
# Longest match, boundaries included (Detector.max_length: hyperscan then reports only where
# a match ends, and tracking where the open-ended salts start made yescrypt's pattern alone cost
# the scanner a fifth of its speed). Real hashes are shorter: SHA-512-crypt with rounds about
# 125 characters, a PBKDF2-SHA512 about 190.
MAX_PASSWORD_HASH_CHARS = 400
# Characters a body is not glued to: its own alphabets ("$" is not one: Django writes
# `bcrypt_sha256$$2b$...`)
BOUNDARY_CHARS = "./0-9A-Za-z+="

# What is hashed: the last `$`-separated part, after a `}` for LDAP (an NT hash is all hash)
_HASH_PART = re.compile(r"[^$}]+$")
# The NT hash of the empty password (an account with none, and pwdump's filler): no secret.
_EMPTY_NT_HASH = "31d6cfe0d16ae931b73c59d7e0c089c0"
# Hashes that documentation and project templates publish, by SHA-256 (like AWS's EXAMPLE
# keys): Laravel's UserFactory ships the bcrypt of "password", so every Laravel project's
# factory file holds it.
_DOCUMENTED_HASHES_SHA256 = frozenset({
    "eeff4d1bcd7b68413c85d06797b16fc8470aac23a6e828c4406f249400e78ac7",
})
# Distinct characters a random hash part has at least (an all-`x` placeholder, `$2b$12$` and
# 53 `a`, a repeated pattern has fewer): 22 random characters of crypt's 64 have 19 on average;
# 32 random hex digits have 14, and fewer than 10 about one time in ten thousand
# (a Cisco type 7 string of a short password is shorter: a third of its length)
_MIN_DISTINCT, _MIN_DISTINCT_HEX = 12, 10
_HEX_ONLY = re.compile(r"[0-9a-fA-F]+")


def hash_part(value: str) -> str:
    """The hash of a stored password hash, without its scheme, parameters and salt."""
    found = _HASH_PART.search(value)
    return found.group() if found else ""


def is_random_hash_part(value: str) -> bool:
    """Whether the hashed part of `value` looks random: a real hash, not a placeholder, an
    empty password's NT hash, a template or a published example."""
    if hashlib.sha256(value.encode()).hexdigest() in _DOCUMENTED_HASHES_SHA256:
        return False
    if _HEX_ONLY.fullmatch(value):  # an NT hash, a NetNTLM proof, a Cisco type 7 string
        distinct = len(set(value.lower()))
        return value.lower() != _EMPTY_NT_HASH and distinct >= min(_MIN_DISTINCT_HEX,
                                                                   len(value) // 3)
    return len(set(hash_part(value))) >= _MIN_DISTINCT
