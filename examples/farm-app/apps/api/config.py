"""Application settings, read from environment variables prefixed with ``FARM_``.

Examples: ``FARM_MONGODB__URL=mongodb://db:27017``, ``FARM_OLLAMA_URL=http://ollama:11434``.
"""

from functools import lru_cache

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MongoDBSettings(BaseModel):
    """Connection settings for MongoDB (the example keeps data in memory, but the
    settings block is what a deployment configures)."""

    url: str = "mongodb://localhost:27017"
    database: str = "farm_app"
    max_pool_size: int = Field(default=10, ge=1)


class Settings(BaseSettings):
    """All runtime settings of the API."""

    model_config = SettingsConfigDict(
        env_prefix="FARM_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    environment: str = "development"
    mongodb: MongoDBSettings = MongoDBSettings()
    ollama_url: str = "http://localhost:11434"
    ollama_model: str = "llama3.2"
    ollama_timeout_seconds: float = Field(default=60.0, gt=0)
    cors_origins: list[str] = ["http://localhost:5173"]

    @property
    def mongodb_url(self) -> str:
        """MongoDB connection URL (shortcut for ``mongodb.url``)."""
        return self.mongodb.url

    @property
    def database_name(self) -> str:
        """MongoDB database name (shortcut for ``mongodb.database``)."""
        return self.mongodb.database


@lru_cache
def get_settings() -> Settings:
    """Settings singleton, overridable in tests via ``app.dependency_overrides``."""
    return Settings()
