"""Tests of /health and the users router."""

from fastapi.testclient import TestClient


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["version"] == "1.0.0"
    assert client.get("/api/health").json() == response.json()


def test_create_then_get_user(client: TestClient) -> None:
    created = client.post("/api/users", json={"name": "Linus", "email": "linus@example.com"})
    assert created.status_code == 201
    body = created.json()
    assert body["id"] == 1
    assert body["role"] == "member"
    assert body["bio"] is None

    fetched = client.get(f"/api/users/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["email"] == "linus@example.com"


def test_list_users_filters_by_role(client: TestClient) -> None:
    client.post("/api/users", json={"name": "A", "email": "a@example.com", "role": "admin"})
    client.post("/api/users", json={"name": "B", "email": "b@example.com"})
    assert [u["name"] for u in client.get("/api/users").json()] == ["A", "B"]
    assert [u["name"] for u in client.get("/api/users", params={"role": "admin"}).json()] == ["A"]


def test_duplicate_email_conflicts(client: TestClient) -> None:
    assert client.post("/api/users", json={"name": "A", "email": "dup@example.com"}).status_code == 201
    response = client.post("/api/users", json={"name": "B", "email": "DUP@example.com"})
    assert response.status_code == 409
    assert "already registered" in response.json()["detail"]


def test_invalid_user_is_rejected(client: TestClient) -> None:
    response = client.post("/api/users", json={"name": "", "email": "not-an-email"})
    assert response.status_code == 422
    fields = {tuple(err["loc"]) for err in response.json()["detail"]}
    assert ("body", "name") in fields
    assert ("body", "email") in fields


def test_missing_and_deleted_user(client: TestClient) -> None:
    assert client.get("/api/users/42").status_code == 404
    user_id = client.post("/api/users", json={"name": "T", "email": "t@example.com"}).json()["id"]
    assert client.delete(f"/api/users/{user_id}").status_code == 204
    assert client.get(f"/api/users/{user_id}").status_code == 404
