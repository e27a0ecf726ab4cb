"""Throwaway private keys built deterministically from a seeded RNG, serialised by `cryptography`.

`cryptography` draws key material and salts from the OS, so the key numbers, the OpenSSH container
and the encrypted PKCS#8 envelope are built here from the seeded RNG instead: same seed, same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import struct
import textwrap
from math import gcd, prod

from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]
_PRIMORIAL = prod(_SMALL_PRIMES)
_NO_ENCRYPTION = serialization.NoEncryption()
_PEM = serialization.Encoding.PEM


def _is_probable_prime(n: int, rng: random.Random, rounds: int = 24) -> bool:
    """Miller-Rabin after trial division by small primes."""
    if gcd(n, _PRIMORIAL) != 1:
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(rng: random.Random, bits: int, e: int = 65537) -> int:
    """A random prime of exactly `bits` bits with gcd(p - 1, e) == 1."""
    while True:
        candidate = rng.getrandbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if gcd(candidate - 1, e) == 1 and _is_probable_prime(candidate, rng):
            return candidate


def rsa_key(rng: random.Random, bits: int) -> rsa.RSAPrivateKey:
    """An RSA key with public exponent 65537 whose primes come from `rng`."""
    e = 65537
    p, q = _prime(rng, bits // 2), _prime(rng, bits // 2)
    d = pow(e, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(e, p * q)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    )
    return numbers.private_key()


def ec_key(rng: random.Random, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    """An EC key on `curve` with a private scalar drawn from `rng`."""
    return ec.derive_private_key(rng.getrandbits(curve.key_size - 8) + 1, curve)


def ed25519_key(rng: random.Random) -> ed25519.Ed25519PrivateKey:
    """An Ed25519 key from a 32-byte seed drawn from `rng`."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))


def dsa_key(rng: random.Random) -> dsa.DSAPrivateKey:
    """A DSA key (1024-bit p, 160-bit q) with parameters derived from `rng`."""
    q = _prime(rng, 160, e=1)
    while True:
        k = rng.getrandbits(1024 - 160) | (1 << (1024 - 161))
        p = k * q * 2 + 1
        if p.bit_length() == 1024 and _is_probable_prime(p, rng, rounds=8):
            break
    g = pow(2, (p - 1) // q, p)
    x = rng.randrange(2, q - 1)
    params = dsa.DSAParameterNumbers(p, q, g)
    return dsa.DSAPrivateNumbers(x, dsa.DSAPublicNumbers(pow(g, x, p), params)).private_key()


def traditional_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey) -> str:
    """`-----BEGIN RSA/EC/DSA PRIVATE KEY-----` (OpenSSL's traditional format)."""
    fmt = serialization.PrivateFormat.TraditionalOpenSSL
    return key.private_bytes(_PEM, fmt, _NO_ENCRYPTION).decode()


def pkcs8_pem(key: PrivateKey) -> str:
    """`-----BEGIN PRIVATE KEY-----` (unencrypted PKCS#8)."""
    return key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, _NO_ENCRYPTION).decode()


def _pkcs8_der(key: PrivateKey) -> bytes:
    fmt = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.DER, fmt, _NO_ENCRYPTION)


def _der(tag: int, body: bytes) -> bytes:
    """One DER TLV."""
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _oid(dotted: str) -> bytes:
    """DER OBJECT IDENTIFIER from its dotted form."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        out += bytes(reversed(chunk))
    return _der(0x06, bytes(out))


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


def _der_int(n: int) -> bytes:
    return _der(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))


def encrypted_pkcs8_pem(key: PrivateKey, rng: random.Random, password: bytes) -> str:
    """`-----BEGIN ENCRYPTED PRIVATE KEY-----`: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC."""
    salt, iv, iterations = rng.randbytes(16), rng.randbytes(16), 2048
    aes_key = hashlib.pbkdf2_hmac("sha256", password, salt, iterations, 32)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(_pkcs8_der(key)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
    cipher_text = encryptor.update(plain) + encryptor.finalize()
    seq = _seq
    prf = seq(_oid("1.2.840.113549.2.9"), b"\x05\x00")
    kdf = seq(_oid("1.2.840.113549.1.5.12"), seq(_der(0x04, salt), _der_int(iterations), prf))
    scheme = seq(_oid("2.16.840.1.101.3.4.1.42"), _der(0x04, iv))
    algorithm = seq(_oid("1.2.840.113549.1.5.13"), seq(kdf, scheme))
    return _pem("ENCRYPTED PRIVATE KEY", seq(algorithm, _der(0x04, cipher_text)), 64)


def _pem(label: str, der: bytes, width: int) -> str:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), width))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _ssh_mpint(n: int) -> bytes:
    return _ssh_string(n.to_bytes(n.bit_length() // 8 + 1, "big"))


SshKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def _openssh_sections(key: SshKey) -> tuple[bytes, bytes]:
    """The public blob and the key-specific private fields of OpenSSH's container."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = serialization.Encoding.Raw
        pub = key.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
        seed = key.private_bytes(raw, serialization.PrivateFormat.Raw, _NO_ENCRYPTION)
        public = _ssh_string(b"ssh-ed25519") + _ssh_string(pub)
        return public, public + _ssh_string(seed + pub)
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    curve = {"secp256r1": b"nistp256", "secp384r1": b"nistp384"}[key.curve.name]
    public = _ssh_string(b"ecdsa-sha2-" + curve) + _ssh_string(curve) + _ssh_string(point)
    return public, public + _ssh_mpint(key.private_numbers().private_value)


def openssh_pem(key: SshKey, rng: random.Random, comment: str) -> str:
    """`-----BEGIN OPENSSH PRIVATE KEY-----` (unencrypted openssh-key-v1) with a seeded checkint."""
    public, private_fields = _openssh_sections(key)
    check = rng.randbytes(4)
    block = check + check + private_fields + _ssh_string(comment.encode())
    block += bytes(range(1, 1 + (-len(block) % 8)))
    header = b"openssh-key-v1\x00" + _ssh_string(b"none") + _ssh_string(b"none")
    body = header + _ssh_string(b"") + struct.pack(">I", 1) + _ssh_string(public)
    return _pem("OPENSSH PRIVATE KEY", body + _ssh_string(block), 70)


def putty_ppk(key: ec.EllipticCurvePrivateKey, comment: str) -> str:
    """`PuTTY-User-Key-File-3` (unencrypted ECDSA): empty MAC key, HMAC-SHA-256 over the blobs."""
    public, _ = _openssh_sections(key)
    private = _ssh_mpint(key.private_numbers().private_value)
    algorithm = public[4 : 4 + struct.unpack(">I", public[:4])[0]]
    mac_data = b"".join(
        _ssh_string(part) for part in (algorithm, b"none", comment.encode(), public, private)
    )
    mac = hmac.new(b"", mac_data, hashlib.sha256).hexdigest()
    pub_lines = textwrap.wrap(base64.b64encode(public).decode(), 64)
    priv_lines = textwrap.wrap(base64.b64encode(private).decode(), 64)
    return "\n".join(
        [
            f"PuTTY-User-Key-File-3: {algorithm.decode()}",
            "Encryption: none",
            f"Comment: {comment}",
            f"Public-Lines: {len(pub_lines)}",
            *pub_lines,
            f"Private-Lines: {len(priv_lines)}",
            *priv_lines,
            f"Private-MAC: {mac}",
            "",
        ]
    )


_ED25519_OID = bytes.fromhex("2b06010401da470f01")  # 1.3.6.1.4.1.11591.15.1


def _mpi(data: bytes) -> bytes:
    """OpenPGP multiprecision integer: bit length, then the big-endian bytes."""
    n = int.from_bytes(data, "big")
    return struct.pack(">H", n.bit_length()) + n.to_bytes((n.bit_length() + 7) // 8, "big")


def _pgp_packet(tag: int, body: bytes) -> bytes:
    """A new-format packet header (one- or two-octet length) and its body."""
    n = len(body)
    length = bytes([n]) if n < 192 else bytes([((n - 192) >> 8) + 192, (n - 192) & 0xFF])
    return bytes([0xC0 | tag]) + length + body


def _crc24(data: bytes) -> bytes:
    """RFC 4880 section 6.1 armour checksum."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return (crc & 0xFFFFFF).to_bytes(3, "big")


def pgp_private_key_block(key: ed25519.Ed25519PrivateKey, created: int, user_id: str) -> str:
    """`-----BEGIN PGP PRIVATE KEY BLOCK-----`: an unprotected v4 EdDSA secret key and a user id.

    No self-signature: structurally valid packets, not a key gpg would import as trusted.
    """
    raw = serialization.Encoding.Raw
    pub = key.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    seed = key.private_bytes(raw, serialization.PrivateFormat.Raw, _NO_ENCRYPTION)
    public = struct.pack(">BIB", 4, created, 22) + bytes([len(_ED25519_OID)]) + _ED25519_OID
    public += _mpi(b"\x40" + pub)
    secret = _mpi(seed)
    body = public + b"\x00" + secret + struct.pack(">H", sum(secret) & 0xFFFF)
    packets = _pgp_packet(5, body) + _pgp_packet(13, user_id.encode())
    armoured = "\n".join(textwrap.wrap(base64.b64encode(packets).decode(), 64))
    checksum = base64.b64encode(_crc24(packets)).decode()
    label = "PGP PRIVATE KEY BLOCK"
    return f"-----BEGIN {label}-----\n\n{armoured}\n={checksum}\n-----END {label}-----\n"
