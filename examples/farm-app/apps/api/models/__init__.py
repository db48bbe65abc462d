"""Pydantic models of the API."""

from models.ai import ChatMessage, ChatRequest, ChatResponse, ModelInfo
from models.item import Dimensions, Item, ItemCreate, ItemStatus
from models.user import User, UserCreate, UserRole

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "Dimensions",
    "Item",
    "ItemCreate",
    "ItemStatus",
    "ModelInfo",
    "User",
    "UserCreate",
    "UserRole",
]
