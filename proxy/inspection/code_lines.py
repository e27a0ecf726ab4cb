"""A private key written as lines of source code, read back as the key.

Test fixtures, Android and Java code and scripts carry keys as code: a Java constant built of
quoted lines joined by `+` (`"MIIEv...\\n" +`), a Python list or tuple of quoted lines, a
shell or YAML comment per line (`# MIIEv...`). The key's own detector reads a PEM block to its
end through base64, white space and `\\n` escapes: the first quote or `#` stopped it, and a
64-character line alone does not read as a key (red team, 2026-11-22: all three went out).
`key_lines(text)` gives the text with each line's code around it stripped (quotes, `+`, `,`,
brackets, `;`, comment markers, `\\n` escapes, indentation), for a text that names a private
key: the armour is whole again and the body follows it. Other texts give None (the check is
two substring searches).
"""

from __future__ import annotations

import re

# Words of every private key armour the private_key detector knows (PEM, OpenSSH, PGP, SSH2,
# PuTTY): a text without them holds no key to rebuild
_KEY_MARKERS = ("PRIVATE KEY", "PuTTY-User-Key-File")
_ESCAPED_BREAK = re.compile(r"\\[nr]")
# A comment marker and the space after it, at a line's start (after indentation), or Kotlin's
# `trimMargin` bar; SQL's `--` only before a space: an armour line starts with dashes
_COMMENT = re.compile(r"^(?://+|#+|\*+|;+|--(?=[ \t])|>+|\|)[ \t]?")
# String concatenation at a line's end: a `+` after a space or a closing quote (`"..." +`); a
# `+` right after base64 is base64's own
_JOINED = re.compile(r"(?<=[\s\"'`])\+$")
# A line of a key's body, once unwrapped. Only a text where such a line was wrapped is
# rebuilt: a copy of every text that merely names a key (a heredoc's command line around a
# plain PEM) is a second text to peel, whose key bodies read again one layer deeper.
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/=]{16,}")
# Quotes and list or call punctuation around a line's string
_PUNCTUATION = " \t\"'`,;()[]{}"


def key_lines(text: str) -> str | None:
    """`text` with the code around each line stripped, when it names a private key and a line
    of base64 had code around it; else None."""
    if not any(marker in text for marker in _KEY_MARKERS):
        return None
    lines = text.split("\n")
    stripped = [_unwrapped(line) for line in lines]
    if not any(new != old.strip() and _BASE64_LINE.fullmatch(new)
               for new, old in zip(stripped, lines, strict=True)):
        return None  # no line of the key's body was wrapped: the detector reads it as it is
    return "\n".join(stripped)


def _unwrapped(line: str) -> str:
    line = _COMMENT.sub("", line.strip())
    line = _JOINED.sub("", _ESCAPED_BREAK.sub("", line).rstrip())
    return line.strip(_PUNCTUATION)
