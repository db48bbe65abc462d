"""AI endpoints, proxied to an Ollama server (``settings.ollama_url``)."""

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, status

from config import Settings, get_settings
from models import ChatMessage, ChatRequest, ChatResponse, ModelInfo

router = APIRouter(prefix="/ai", tags=["ai"])

SettingsDep = Annotated[Settings, Depends(get_settings)]


def _unreachable(settings: Settings, exc: Exception) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        detail=(
            f"Ollama is unreachable at {settings.ollama_url} ({type(exc).__name__}). "
            "Start it with `ollama serve` or set FARM_OLLAMA_URL."
        ),
    )


def _upstream_error(response: httpx.Response) -> HTTPException:
    try:
        message = response.json().get("error", response.text)
    except ValueError:
        message = response.text
    return HTTPException(
        status_code=status.HTTP_502_BAD_GATEWAY,
        detail=f"Ollama answered {response.status_code}: {message}",
    )


async def _ollama(settings: Settings, method: str, path: str, json: Any = None) -> dict[str, Any]:
    url = f"{settings.ollama_url.rstrip('/')}{path}"
    try:
        async with httpx.AsyncClient(timeout=settings.ollama_timeout_seconds) as client:
            response = await client.request(method, url, json=json)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise _unreachable(settings, exc) from exc
    except httpx.TimeoutException as exc:
        raise HTTPException(
            status_code=status.HTTP_504_GATEWAY_TIMEOUT,
            detail=f"Ollama at {settings.ollama_url} did not answer within {settings.ollama_timeout_seconds}s",
        ) from exc
    if response.is_error:
        raise _upstream_error(response)
    try:
        body = response.json()
    except ValueError as exc:
        raise HTTPException(status_code=status.HTTP_502_BAD_GATEWAY, detail="Ollama returned invalid JSON") from exc
    if not isinstance(body, dict):
        raise HTTPException(status_code=status.HTTP_502_BAD_GATEWAY, detail="Ollama returned an unexpected payload")
    return body


@router.post("/chat", response_model=ChatResponse)
async def chat(request: ChatRequest, settings: SettingsDep) -> ChatResponse:
    """Send the conversation to Ollama's ``/api/chat`` (non-streaming) and return the reply."""
    model = request.model or settings.ollama_model
    payload: dict[str, Any] = {
        "model": model,
        "messages": [m.model_dump() for m in request.messages],
        "stream": False,
    }
    if request.temperature is not None:
        payload["options"] = {"temperature": request.temperature}
    body = await _ollama(settings, "POST", "/api/chat", json=payload)
    message = body.get("message")
    if not isinstance(message, dict) or "content" not in message:
        raise HTTPException(status_code=status.HTTP_502_BAD_GATEWAY, detail="Ollama reply has no message")
    return ChatResponse(
        model=str(body.get("model", model)),
        message=ChatMessage(role="assistant", content=str(message["content"])),
        done=bool(body.get("done", True)),
        total_duration_ns=body.get("total_duration"),
    )


@router.get("/models", response_model=list[ModelInfo])
async def list_models(settings: SettingsDep) -> list[ModelInfo]:
    """Models installed on the Ollama server (``/api/tags``)."""
    body = await _ollama(settings, "GET", "/api/tags")
    models = body.get("models", [])
    if not isinstance(models, list):
        raise HTTPException(status_code=status.HTTP_502_BAD_GATEWAY, detail="Ollama returned an unexpected model list")
    return [
        ModelInfo(name=str(m.get("name", "")), size=m.get("size"), modified_at=m.get("modified_at"))
        for m in models
        if isinstance(m, dict)
    ]
