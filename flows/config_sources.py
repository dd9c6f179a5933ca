"""Where each setting came from (the file, an env variable, the default) and what is wrong with a value,
said in the words of the file: `legatura.toml: unknown key tracking.sla_hour; did you mean sla_hours?`."""
from __future__ import annotations

import json
from datetime import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError


def from_env(env: dict) -> tuple[dict[str, Any], dict[str, str]]:
    """LEGATURA_<SECTION>__<KEY>=value as a nested dict (JSON values [..], {..} decoded), and each key's
    variable name."""
    nested: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, value in env.items():
        if not name.upper().startswith("LEGATURA_") or "__" not in name or name.upper() == "LEGATURA_CONFIG":
            continue
        parts = name[len("LEGATURA_"):].lower().split("__")
        if value.strip()[:1] in ("[", "{"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        names[".".join(parts)] = f"env {name}"
    return nested, names


def merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def origins_of(data: dict, source: str, prefix: str = "") -> dict[str, str]:
    """Every key (and every key inside a table) of `data` -> `source`."""
    found = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        found[dotted] = source
        if isinstance(value, dict):
            found.update(origins_of(value, source, dotted + "."))
    return found


def origin_of(key: str, origins: dict[str, str]) -> str:
    """Where a dotted key's value came from: the file, an env variable, both (inside a table), or the default."""
    parts = key.split(".")
    inside = {source for name, source in origins.items() if name.startswith(key + ".")}
    if key in origins:   # a table value (money.fx) may mix the file's keys with the environment's
        return ", ".join(sorted(inside | {origins[key]}))
    for end in range(len(parts) - 1, 1, -1):   # inside a table value such as money.fx (not a whole section)
        if ".".join(parts[:end]) in origins:
            return origins[".".join(parts[:end])]
    return ", ".join(sorted(inside)) if inside else "default"


def explain(exc: ValidationError, origins: dict[str, str], model: type[BaseModel]) -> str:
    """Pydantic's errors as one line: where each value came from, the key, the reason (a typo: the closest key)."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        source = origin_of(where, origins)
        source = source if source != "default" else "settings"
        if error["type"] == "extra_forbidden":
            lines.append(f"{source}: {_unknown_key(error['loc'], model)}")
            continue
        reason = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        shown = f" = {value!r}" if len(error["loc"]) > 1 and not isinstance(value, dict) else ""
        section, _, key = where.partition(".")
        hint = (f" (file key [{section}] {key.split('.')[0]} or env LEGATURA_{where.upper().replace('.', '__')})"
                if key else "")
        lines.append(f"{source}: setting {where}{shown}: {reason}{hint}")
    more = f" (and {len(lines) - 3} more)" if len(lines) > 3 else ""
    return "; ".join(lines[:3]) + more


def _unknown_key(loc: tuple, settings_model: type[BaseModel]) -> str:
    """`unknown key tracking.sla_hour; did you mean sla_hours?` (or the keys there are)."""
    import difflib

    if len(loc) == 1:
        known = list(settings_model.model_fields)
        close = difflib.get_close_matches(str(loc[0]), known, n=1)
        return (f"unknown section [{loc[0]}]; " +
                (f"did you mean [{close[0]}]?" if close else f"the sections are {', '.join(known)}"))
    model: Any = settings_model
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if isinstance(model, type) and issubclass(model, BaseModel) \
            else None
        model = field.annotation if field else None
    known = list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    dotted = ".".join(str(part) for part in loc)
    return f"unknown key {dotted}; " + (f"did you mean {close[0]}?" if close else
                                        f"the keys of [{'.'.join(map(str, loc[:-1]))}] are {', '.join(known)}")


def effective(settings: BaseModel, origins: dict[str, str]) -> list[tuple[str, Any, str]]:
    """Every setting as (dotted key, value, where it came from); secrets masked: `***` when set, empty when not."""
    rows = []
    for section_name in type(settings).model_fields:
        section = getattr(settings, section_name)
        if section_name == "mappings":
            for name, mapping in section.items():
                for key, value in mapping.items():
                    dotted = f"mappings.{name}.{key}"
                    rows.append((dotted, value, origin_of(dotted, origins)))
            continue
        for key in type(section).model_fields:
            value = getattr(section, key)
            if isinstance(value, SecretStr):
                value = "***" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, time):
                value = value.strftime("%H:%M")
            dotted = f"{section_name}.{key}"
            rows.append((dotted, value, origin_of(dotted, origins)))
    return rows
