"""User models."""

from datetime import datetime, timezone
from enum import Enum
from typing import Optional

from pydantic import BaseModel, Field


class UserRole(str, Enum):
    """What a user may do."""

    admin = "admin"
    member = "member"
    viewer = "viewer"


class UserCreate(BaseModel):
    """Payload to create a user."""

    name: str = Field(min_length=1, max_length=100)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    role: UserRole = UserRole.member
    bio: Optional[str] = Field(default=None, max_length=500)


class User(UserCreate):
    """A stored user."""

    id: int
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
