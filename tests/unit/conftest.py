"""The unit tier opens no sockets: any connection attempt fails the test that made it."""

from __future__ import annotations

import pytest

from tests.support.guards import forbid_connections


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_connections(monkeypatch)
