"""Prompts and the reply schema (data files in ``rca/prompts``), with log data fenced off."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from netrca.errors import ConfigError
from netrca.schema import SCHEMA_VERSION

__all__ = [
    "MAX_STRING",
    "PromptKit",
    "extract_data",
    "load_prompts",
    "prepare",
]

#: Longest string a log field may contribute to a prompt (longer ones are cut).
MAX_STRING = 300
_FENCE = "INCIDENT-DATA"
_FENCED = re.compile(r"<<<(" + _FENCE + r"-[0-9a-f]{16})\n(.*?)\n\1>>>", re.DOTALL)
_FILES = ("system.md", "batch.md", "reply_schema.json")


def prepare(value: Any) -> Any:
    """A copy of pack data fit for a prompt: long strings cut to :data:`MAX_STRING`."""
    if isinstance(value, dict):
        return {str(k): prepare(v) for k, v in value.items()}
    if isinstance(value, list):
        return [prepare(v) for v in value]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + "…[cut]"
    return value


def _encode(items: list[dict[str, Any]]) -> str:
    # ASCII-only JSON: quotes, newlines, control and bidi characters are all escaped, so
    # nothing inside a field can end the fence or pass for prompt text.
    return json.dumps({"incidents": items}, ensure_ascii=True, separators=(",", ":"))


@dataclass(frozen=True)
class PromptKit:
    """The system prompt, the batch template and the reply schema, with their version."""

    system: str
    batch: string.Template
    schema: dict[str, Any]
    version: str

    def render(self, items: list[dict[str, Any]], taxonomy: dict[str, str]) -> str:
        """The user message for a batch: taxonomy, ids, and the fenced JSON data."""
        data = _encode(items)
        nonce = hashlib.sha256(data.encode()).hexdigest()[:16]
        return self.batch.substitute(
            taxonomy="\n".join(f"- {k}: {v}" for k, v in taxonomy.items()),
            count=len(items),
            ids=", ".join(str(i["incident_id"]) for i in items),
            fence=f"{_FENCE}-{nonce}",
            data=data,
        )

    def reply_schema(self, ids: list[str], categories: list[str]) -> dict[str, Any]:
        """The JSON schema of a reply for exactly these incident ids."""
        schema = copy.deepcopy(self.schema)
        arr = schema["properties"]["analyses"]
        arr["minItems"] = arr["maxItems"] = len(ids)
        item = arr["items"]["properties"]
        item["incident_id"]["enum"] = list(ids)
        item["category"]["enum"] = list(categories)
        item["alternatives"]["items"]["properties"]["category"]["enum"] = list(categories)
        return schema


def _read(directory: Path | None, name: str) -> str:
    try:
        if directory is not None:
            return (directory / name).read_text("utf-8")
        return resources.files("netrca.rca").joinpath("prompts", name).read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"prompt file {name}: {exc}") from exc


def load_prompts(directory: str | Path | None = None) -> PromptKit:
    """Read the prompt files (``directory`` replaces the packaged ``rca/prompts``).

    The version is a digest of the three files and the analysis schema version, so
    editing a prompt invalidates cached analyses made with the old one.
    """
    d = Path(directory) if directory else None
    texts = {n: _read(d, n) for n in _FILES}
    try:
        schema = json.loads(texts["reply_schema.json"])
        schema["properties"]["analyses"]["items"]["properties"]["alternatives"]["items"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"reply_schema.json is not the expected reply schema: {exc}") from exc
    batch = string.Template(texts["batch.md"])
    missing = {"taxonomy", "count", "ids", "fence", "data"} - set(batch.get_identifiers())
    if missing:
        raise ConfigError(f"batch.md lacks placeholder(s): {', '.join(sorted(missing))}")
    digest = hashlib.sha256(
        "\0".join([SCHEMA_VERSION, *(texts[n] for n in _FILES)]).encode()
    ).hexdigest()[:12]
    return PromptKit(
        system=texts["system.md"].strip(), batch=batch, schema=schema, version=f"p-{digest}"
    )


def extract_data(text: str) -> list[dict[str, Any]] | None:
    """The incident items inside a rendered prompt's fence (None when there is none)."""
    m = _FENCED.search(text)
    if not m:
        return None
    try:
        data = json.loads(m.group(2))
    except ValueError:
        return None
    items = data.get("incidents") if isinstance(data, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else None
