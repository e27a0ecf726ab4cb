"""Fixtures shared by the unit tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from proxy.inspection.scanner import Scanner


@pytest.fixture(scope="session")
def scanner() -> Scanner:
    """One scanner for the whole run: it holds no state between scans, and compiling its
    hyperscan databases is the slow part. Imported here, not at the top: importing the
    detectors at collection, before the test modules, changes which warnings pytest shows."""
    from proxy.inspection.scanner import Scanner

    return Scanner()
