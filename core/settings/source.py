"""Where raw settings come from: finding and reading settings.toml, applying VOC_* overrides.

`locate()` picks the file (an explicit path, VOC_SETTINGS, ./settings.toml, else the one shipped at
the repo root); `read_settings()` parses it; `refuse_secrets()` rejects secret-looking keys in it;
`apply_overrides()` folds `VOC_<SECTION>__<KEY>` variables into the raw tables. `Origin` remembers
which variable set which key, so a later validation error names the file or the variable.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from core.errors import ConfigError
from core.settings.secrets import SECRET_ENV, secret_hint

SHIPPED_SETTINGS = Path(__file__).resolve().parents[2] / "settings.toml"
# VOC_ names that are not key overrides (the settings file, test hooks, the secrets).
NOT_OVERRIDES = frozenset({"VOC_SETTINGS", "VOC_TEST_ES_URL", *SECRET_ENV.values()})


class Origin:
    """Where each value came from, so an error names the file or the environment variable."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.env_var: dict[str, str] = {}  # dotted key -> VOC_ variable that set it
        self.env_text: dict[str, str] = {}  # dotted key -> the variable's raw text

    def var_for(self, key: str) -> str | None:
        # The most specific override wins: VOC_A__B__C over VOC_A__B for key a.b.c.
        for set_key, var in sorted(self.env_var.items(), key=lambda item: -len(item[0])):
            if key == set_key or key.startswith((set_key + ".", set_key + "[")):
                return var
        return None

    def fail(self, key: str, problem: str) -> NoReturn:
        var = self.var_for(key)
        where = f"from environment variable {var}" if var else f"in {self.file}"
        raise ConfigError(f"settings key {key}: {problem} ({where})", key=key, source=var or str(self.file))


def locate(path: str | Path | None, env: Mapping[str, str]) -> Path:
    if path is None and not env.get("VOC_SETTINGS"):
        local = Path.cwd() / "settings.toml"
        for candidate in (local, SHIPPED_SETTINGS):
            if candidate.is_file():
                return candidate
        raise ConfigError(f"no settings file: looked for {local} and {SHIPPED_SETTINGS}; "
                          "set VOC_SETTINGS to the file to use")
    chosen, how = (path, "the path given") if path is not None else (env["VOC_SETTINGS"], "VOC_SETTINGS")
    file = resolve_path(str(chosen))
    if not file.is_file():
        raise ConfigError(f"settings file {file} (from {how}) does not exist", source=str(file))
    return file


def read_settings(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {file} is not valid TOML: {exc}", source=str(file)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"settings file {file} cannot be read: {exc}", source=str(file)) from exc


def refuse_secrets(value: Any, prefix: str, origin: Origin) -> None:
    """A secret-looking key anywhere in the file (crawl tables and rules included) is an error."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            refuse_secrets(item, f"{prefix}[{index}]", origin)
    elif isinstance(value, dict):
        for key, item in value.items():
            dotted = f"{prefix}.{key}" if prefix else key
            hint = secret_hint(key)
            if hint:
                origin.fail(dotted, f"secrets come from environment variables only, never from the "
                                    f"settings file; remove it and set {hint}")
            refuse_secrets(item, dotted, origin)


def apply_overrides(raw: dict[str, Any], env: Mapping[str, str], origin: Origin,
                    sections: Iterable[str]) -> None:
    """Apply each VOC_<SECTION>__<KEY> variable to `raw`; `sections` are the known section names
    (a single-underscore VOC_STORE_PATH is then a typo worth an error)."""
    sections = set(sections)
    for var in sorted(env):  # sorted: a table override lands before overrides of keys inside it
        if not var.startswith("VOC_") or var in NOT_OVERRIDES:
            continue
        rest = var[len("VOC_"):]
        if "__" not in rest:
            head = rest.split("_", 1)[0].lower()
            if head in sections or head == "crawl":
                raise ConfigError(f"environment variable {var} is not a settings override: section and "
                                  f"key join with a double underscore (VOC_{head.upper()}__KEY)", source=var)
            continue  # some other tool's VOC_ variable
        parts = [part.lower() for part in rest.split("__")]
        dotted = ".".join(parts)
        if not all(parts):
            raise ConfigError(f"environment variable {var} has an empty part in {dotted!r}", source=var)
        origin.env_var[dotted] = var
        origin.env_text[dotted] = env[var]
        hint = secret_hint(parts[-1])
        if hint:
            origin.fail(dotted, f"is a secret; set {hint} instead of a settings override")
        value = _literal(env[var])
        table = raw
        for depth, part in enumerate(parts[:-1]):
            table = table.setdefault(part, {})
            if isinstance(table, list):
                origin.fail(".".join(parts[:depth + 1]), "arrays of tables cannot be overridden from the "
                                                          "environment; edit the settings file")
            if not isinstance(table, dict):
                origin.fail(".".join(parts[:depth + 1]), "is not a table, so no key inside it can be set")
        if _is_table_array(table.get(parts[-1])) or _is_table_array(value):
            origin.fail(dotted, "arrays of tables cannot be overridden from the environment; "
                                "edit the settings file")
        table[parts[-1]] = value


def _literal(text: str) -> Any:
    if "\n" in text or "\r" in text:
        return text  # a multi-line value could smuggle extra TOML keys; keep it as text
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(item, dict) for item in value)


def resolve_path(text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else Path.cwd() / path
