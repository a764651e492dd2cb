"""What the suite does about a missing optional tool: skip it on a workstation, fail under CI.

CI (CI=true, as CI services set it) runs `make test` on a fresh set-up that installs every tool
the tests drive, so a missing one there is a broken set-up, not a reason to skip.
"""

from __future__ import annotations

import importlib
import os

import pytest

UNDER_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")


def require(module: str):
    """`module`, imported; where it is missing, a skip, or under CI a failure."""
    return importlib.import_module(module) if UNDER_CI else pytest.importorskip(module)
