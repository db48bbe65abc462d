"""Endpoints for items."""

from fastapi import APIRouter, HTTPException, Query, status

from models import Dimensions, Item, ItemCreate, ItemStatus
from storage import InMemoryStore

router = APIRouter(prefix="/items", tags=["items"])

store: InMemoryStore[Item] = InMemoryStore()


def seed() -> None:
    """Fill the store with a few demo items (only when empty)."""
    if store.list():
        return
    for payload in (
        ItemCreate(
            name="Walnut desk",
            description="Solid walnut, oiled finish.",
            price=749.0,
            status=ItemStatus.available,
            owner_id=1,
            dimensions=Dimensions(width_cm=140, height_cm=75, depth_cm=70),
            tags=["furniture", "wood"],
            attributes={"finish": "oil", "origin": "Portugal"},
        ),
        ItemCreate(name="Desk lamp", price=59.9, status=ItemStatus.sold_out, tags=["lighting"]),
        ItemCreate(name="Prototype chair", description="Not for sale yet.", price=0, attributes={"stage": "alpha"}),
    ):
        create_item(payload)


@router.get("", response_model=list[Item])
def list_items(
    status_filter: ItemStatus | None = Query(default=None, alias="status"),
    tag: str | None = None,
) -> list[Item]:
    """All items, optionally filtered by ``status`` and/or ``tag``."""
    items = store.list()
    if status_filter is not None:
        items = [i for i in items if i.status == status_filter]
    if tag is not None:
        items = [i for i in items if tag in i.tags]
    return items


@router.post("", response_model=Item, status_code=status.HTTP_201_CREATED)
def create_item(payload: ItemCreate) -> Item:
    """Create an item."""
    item = Item(id=store.next_id(), **payload.model_dump())
    return store.put(item.id, item)


@router.get("/{item_id}", response_model=Item)
def get_item(item_id: int) -> Item:
    """One item by id; 404 when absent."""
    item = store.get(item_id)
    if item is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"Item {item_id} not found")
    return item


@router.patch("/{item_id}/status", response_model=Item)
def set_item_status(item_id: int, new_status: ItemStatus = Query(alias="value")) -> Item:
    """Change an item's status; 404 when absent."""
    item = get_item(item_id)
    updated = item.model_copy(update={"status": new_status})
    return store.put(item_id, updated)
