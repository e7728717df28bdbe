"""db_writer's configuration: every environment variable it reads, validated once per container."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(Exception):
    """A missing or malformed environment variable; the message names it."""


@dataclass(frozen=True)
class Settings:
    table_name: str


def load_settings(environ: Mapping[str, str]) -> Settings:
    table_name = environ.get("TABLE_NAME", "").strip()
    if not table_name:
        raise ConfigError("TABLE_NAME is required but not set")
    return Settings(table_name=table_name)
