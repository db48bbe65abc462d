"""Item models: an enum field, an optional field, a nested model, a list and a dict."""

from enum import Enum
from typing import Optional

from pydantic import BaseModel, Field


class ItemStatus(str, Enum):
    """Lifecycle of an item."""

    draft = "draft"
    available = "available"
    sold_out = "sold_out"
    archived = "archived"


class Dimensions(BaseModel):
    """Physical size of an item, in centimetres."""

    width_cm: float = Field(gt=0)
    height_cm: float = Field(gt=0)
    depth_cm: float = Field(gt=0)


class ItemCreate(BaseModel):
    """Payload to create an item."""

    name: str = Field(min_length=1, max_length=200)
    description: Optional[str] = None
    price: float = Field(ge=0)
    status: ItemStatus = ItemStatus.draft
    owner_id: Optional[int] = None
    dimensions: Optional[Dimensions] = None
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)


class Item(ItemCreate):
    """A stored item."""

    id: int
