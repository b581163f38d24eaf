"""Assertions shared by test modules."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import assert_unchanged, snapshot

import deploykit as dk


def assert_unchanged_after(
    store: dk.Store, call: Callable[[], object], error: type[BaseException], match: str
) -> None:
    """``call`` raises ``error`` (message matching ``match``) and leaves every table as it was."""
    before = snapshot(store)
    with pytest.raises(error, match=match):
        call()
    assert_unchanged(before, store)
