"""`glassbreak rules check FILE`: validate a rule file for CI, with one line per problem."""

from __future__ import annotations

from pathlib import Path

from proxy.policy.loader import RuleFileError, load_rules


def check_rules(path: str | Path) -> tuple[int, str]:
    """The exit code (0 valid, 1 problems) and the text to print."""
    try:
        policy = load_rules(path)
    except RuleFileError as error:
        return 1, str(error)
    count = len(policy.destinations)
    noun = "destination" if count == 1 else "destinations"
    return 0, f"{path}: ok ({count} {noun})"
