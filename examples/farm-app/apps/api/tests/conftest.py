"""Shared fixtures: a TestClient over empty in-memory stores."""

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from config import Settings, get_settings
from main import app
from routers import items, users


@pytest.fixture
def client() -> Iterator[TestClient]:
    users.store.clear()
    items.store.clear()
    with TestClient(app) as test_client:
        yield test_client
    app.dependency_overrides.clear()
    users.store.clear()
    items.store.clear()


@pytest.fixture
def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def offline_ollama(closed_port: int) -> Settings:
    """Settings whose Ollama URL points at a closed loopback port."""
    settings = Settings(ollama_url=f"http://127.0.0.1:{closed_port}", ollama_timeout_seconds=2)
    app.dependency_overrides[get_settings] = lambda: settings
    return settings
