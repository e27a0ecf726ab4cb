"""The CPU one request's peeling may spend on the proxy's one thread.

It starts from what the request's texts are worth (`cpu_seconds_per_mib` per MiB, at least a
floor: proxy/policy/model.py) and grows with what peeling decodes from them, at the same rate,
up to MAX_GROWTH times the start: a base64 `.tgz` in a JSON body (an `npm publish`) is a
megabyte of text that decompresses to several, and peeling those several is honest work. The
cap keeps the bound: decoys that decode to much text cannot buy themselves unlimited time.
Time is `time.thread_time`, the event loop's own CPU, not the wall clock of a busy machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from proxy.inspection.fields import Field
from proxy.policy.model import InspectionPolicy

MAX_GROWTH = 4.0  # the budget grows to at most this many times its start
_MIB = 1 << 20


@dataclass
class CpuBudget:
    deadline: float  # time.thread_time() past which the budget is spent
    ceiling: float  # the deadline grows no later than this
    seconds_per_character: float

    @classmethod
    def start(cls, seconds: float, seconds_per_mib: float) -> CpuBudget:
        now = time.thread_time()
        return cls(deadline=now + seconds, ceiling=now + seconds * MAX_GROWTH,
                   seconds_per_character=seconds_per_mib / _MIB)

    @classmethod
    def for_texts(cls, texts: Iterable[Field], policy: InspectionPolicy) -> CpuBudget:
        """The budget of a request made of `texts`, per the rule file's inspection settings."""
        return cls.start(policy.cpu_seconds(sum(len(text.text) for text in texts)),
                         policy.cpu_seconds_per_mib)

    def earn(self, characters: int) -> None:
        """Decoded text to look at: its worth is added, up to the ceiling."""
        self.deadline = min(self.ceiling, self.deadline + characters * self.seconds_per_character)

    def spent(self) -> bool:
        return time.thread_time() > self.deadline
