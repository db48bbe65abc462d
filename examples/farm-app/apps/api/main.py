"""FARM example API: ``uvicorn main:app --reload`` from ``apps/api``."""

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from config import get_settings
from routers import ai, items, users

settings = get_settings()

app = FastAPI(
    title="FARM Example API",
    version="1.0.0",
    description="Users, items and an Ollama-backed chat for the FARM example app.",
)

app.add_middleware(
    CORSMiddleware,
    allow_origins=settings.cors_origins,
    allow_methods=["*"],
    allow_headers=["*"],
)

users.seed()
items.seed()


@app.get("/health", tags=["health"])
def health() -> dict[str, str]:
    """Liveness probe."""
    return {"status": "ok", "version": app.version, "environment": settings.environment}


api = APIRouter(prefix="/api")
# Same probe under /api, so the web app reaches it through the dev-server proxy (which forwards /api only).
api.add_api_route("/health", health, methods=["GET"], tags=["health"])
api.include_router(users.router)
api.include_router(items.router)
api.include_router(ai.router)
app.include_router(api)
