"""Tests of the AI router against a fake Ollama on 127.0.0.1."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from config import Settings, get_settings
from main import app


def test_ai_chat_returns_503_when_ollama_is_down(client: TestClient, offline_ollama: Settings) -> None:
    response = client.post("/api/ai/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 503
    assert offline_ollama.ollama_url in response.json()["detail"]
    assert "unreachable" in response.json()["detail"]
    assert client.get("/api/ai/models").status_code == 503


class _FakeOllama(BaseHTTPRequestHandler):
    """Answers /api/chat by echoing the last message, /api/tags with one model."""

    requests: list[dict] = []

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        _FakeOllama.requests.append(body)
        if self.path != "/api/chat":
            self._send(404, {"error": "not found"})
        elif body["model"] == "missing":
            self._send(404, {"error": "model 'missing' not found"})
        else:
            last = body["messages"][-1]["content"]
            self._send(200, {
                "model": body["model"],
                "message": {"role": "assistant", "content": f"echo: {last}"},
                "done": True,
                "total_duration": 1234,
            })

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/api/tags":
            self._send(200, {"models": [{"name": "llama3.2:latest", "size": 2019393189, "modified_at": "2026-01-01T00:00:00Z"}]})
        else:
            self._send(404, {"error": "not found"})

    def log_message(self, format: str, *args: object) -> None:  # silence
        return


@pytest.fixture
def fake_ollama() -> Iterator[Settings]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOllama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeOllama.requests = []
    settings = Settings(ollama_url=f"http://127.0.0.1:{server.server_address[1]}", ollama_model="llama3.2")
    app.dependency_overrides[get_settings] = lambda: settings
    try:
        yield settings
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_ai_chat_forwards_to_ollama(client: TestClient, fake_ollama: Settings) -> None:
    response = client.post(
        "/api/ai/chat",
        json={"messages": [{"role": "user", "content": "hello"}], "temperature": 0.2},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model": "llama3.2",
        "message": {"role": "assistant", "content": "echo: hello"},
        "done": True,
        "total_duration_ns": 1234,
    }
    sent = _FakeOllama.requests[-1]
    assert sent["stream"] is False
    assert sent["options"] == {"temperature": 0.2}


def test_ai_chat_reports_upstream_error(client: TestClient, fake_ollama: Settings) -> None:
    response = client.post(
        "/api/ai/chat",
        json={"model": "missing", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 502
    assert "model 'missing' not found" in response.json()["detail"]


def test_ai_models_lists_ollama_tags(client: TestClient, fake_ollama: Settings) -> None:
    response = client.get("/api/ai/models")
    assert response.status_code == 200
    assert response.json()[0]["name"] == "llama3.2:latest"
