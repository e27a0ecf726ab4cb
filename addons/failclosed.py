"""Make a crashing security hook block instead of letting the flow through.

mitmproxy catches an exception in an addon, logs it and carries on: for a filter that is
fail-open. Every security hook is wrapped with `fail_closed(on_error)`. Each failure is counted in
`glassbreak_internal_errors_total` under the addon's `metrics_component`.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

logger = logging.getLogger("glassbreak")

Hook = TypeVar("Hook", bound=Callable[..., Any])


def count_failure(addon: Any) -> None:
    """Count the failure on the addon's gate; never raise (blocking comes first)."""
    try:
        addon.gate.metrics.internal_error(getattr(addon, "metrics_component", "other"))
    except Exception:  # an addon without a gate (tests) or metrics: the block still happens
        logger.debug("glassbreak: internal error not counted")


def fail_closed(on_error: Callable[[Any, Any], None]) -> Callable[[Hook], Hook]:
    """Wrap a hook `(self, data)`; on any exception call `on_error(self, data)` to block."""

    def wrap(hook: Hook) -> Hook:
        name = hook.__qualname__

        def report(error: BaseException) -> None:
            # The type and place only: an exception's message may quote request data.
            where = error.__traceback__
            while where is not None and where.tb_next is not None:
                where = where.tb_next
            line = f"{where.tb_frame.f_code.co_filename}:{where.tb_lineno}" if where else "?"
            logger.error("glassbreak: %s failed with %s at %s; blocking",
                         name, type(error).__name__, line)

        if inspect.iscoroutinefunction(hook):

            @functools.wraps(hook)
            async def async_wrapper(self: Any, data: Any) -> None:
                try:
                    await cast(Callable[[Any, Any], Awaitable[None]], hook)(self, data)
                except Exception as error:
                    report(error)
                    count_failure(self)
                    on_error(self, data)

            return cast(Hook, async_wrapper)

        @functools.wraps(hook)
        def wrapper(self: Any, data: Any) -> None:
            try:
                hook(self, data)
            except Exception as error:
                report(error)
                count_failure(self)
                on_error(self, data)

        return cast(Hook, wrapper)

    return wrap
