"""What the rule-file schema modules share: strict models, errors with a fix, host values."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

from proxy.policy.hosts import HostError, HostPattern


class Strict(BaseModel):
    # strict: "443" is not 443 and "yes" is not true; extra="forbid": a typo is an error.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def reject(message: str, fix: str | None = None) -> PydanticCustomError:
    """A rule-file error; the loader prints `file:line: message (fix: ...)`."""
    # The message goes through ctx so that braces in user text are never read as a template.
    context: dict[str, Any] = {"message": message}
    if fix is not None:
        context["fix"] = fix
    return PydanticCustomError("rule_file", "{message}", context)


def check_host(value: str) -> str:
    try:
        HostPattern.parse(value)
    except HostError as error:
        # hosts.py words its errors "what is wrong; what to do": split them into message and fix.
        message, _, fix = str(error).rstrip(".").partition("; ")
        raise reject(message, fix or None) from None
    return value


HostText = Annotated[str, AfterValidator(check_host)]
