"""Models of the AI chat endpoints (proxied to Ollama)."""

from typing import Literal, Optional

from pydantic import BaseModel, Field


class ChatMessage(BaseModel):
    """One message of a conversation."""

    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    """A chat request; ``model`` defaults to the configured Ollama model."""

    messages: list[ChatMessage] = Field(min_length=1)
    model: Optional[str] = None
    temperature: Optional[float] = Field(default=None, ge=0, le=2)


class ChatResponse(BaseModel):
    """The assistant's reply."""

    model: str
    message: ChatMessage
    done: bool = True
    total_duration_ns: Optional[int] = None


class ModelInfo(BaseModel):
    """A model available on the Ollama server."""

    name: str
    size: Optional[int] = None
    modified_at: Optional[str] = None
