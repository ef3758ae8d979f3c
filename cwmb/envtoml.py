"""Writing tool-maintained tables ([dataset.*], [baselines.*]) into an env.toml, keeping the rest
of the hand-written file (comments, order) intact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit

from cwmb import registry


def update_tables(path: Path, updates: dict[tuple[str, ...], dict[str, Any]]) -> None:
    """Replace each table at a key path (e.g. ("dataset", "train")) with new content, atomically."""
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    for keys, content in updates.items():
        parent: Any = document
        for key in keys[:-1]:
            if key not in parent:
                parent[key] = tomlkit.table(is_super_table=True)
            parent = parent[key]
        parent[keys[-1]] = _table(content)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(tomlkit.dumps(document), encoding="utf-8")
    tmp.replace(path)
    registry.get.cache_clear()


def _table(content: dict[str, Any]) -> Any:
    table = tomlkit.table()
    for key, value in content.items():
        if isinstance(value, dict):
            inline = tomlkit.inline_table()
            inline.update(value)
            table[key] = inline
        else:
            table[key] = value
    return table
