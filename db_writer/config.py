"""db_writer's configuration: every environment variable it reads, validated once per container."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# DynamoDB's rules for a table name: 3-255 of letters, digits, "_", "-" and ".".
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


class ConfigError(Exception):
    """A missing or malformed environment variable; the message names it."""


@dataclass(frozen=True)
class Settings:
    table_name: str


def load_settings(environ: Mapping[str, str]) -> Settings:
    table_name = environ.get("TABLE_NAME", "").strip()
    if not table_name:
        raise ConfigError("TABLE_NAME is required but not set")
    if not _TABLE_NAME.fullmatch(table_name):
        raise ConfigError(f"TABLE_NAME must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ - .), got {table_name!r}")
    return Settings(table_name=table_name)
