"""Tests of the items router."""

from fastapi.testclient import TestClient


def test_item_with_nested_fields_round_trips(client: TestClient) -> None:
    payload = {
        "name": "Shelf",
        "price": 120.5,
        "status": "available",
        "dimensions": {"width_cm": 80, "height_cm": 180, "depth_cm": 30},
        "tags": ["storage"],
        "attributes": {"colour": "white"},
    }
    created = client.post("/api/items", json=payload)
    assert created.status_code == 201
    item = created.json()
    assert item["dimensions"]["height_cm"] == 180
    assert item["attributes"] == {"colour": "white"}
    assert item["description"] is None

    patched = client.patch(f"/api/items/{item['id']}/status", params={"value": "sold_out"})
    assert patched.json()["status"] == "sold_out"
    assert client.get("/api/items", params={"status": "available"}).json() == []
    assert client.post("/api/items", json={**payload, "status": "bogus"}).status_code == 422
