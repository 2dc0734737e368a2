"""Secrets: read only from the environment, never from settings.toml, never printed.

`Secrets.from_env(env)` collects the VOC_* secret variables into typed `SecretStr` fields (the
settings read it once, as `Settings.secrets`); its repr shows which are set, not their values.
`pseudonym_salt(var_dir, env)` gives the salt used to pseudonymise survey respondents:
`VOC_PSEUDONYM_SALT` when set, else a random salt made once and kept in `<var_dir>/pseudonym_salt`
(mode 0600) so re-imports hash the same respondent the same way.
"""

from __future__ import annotations

import os
import secrets as _random
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

from core.errors import ConfigError

# field name -> environment variable; the only place these names are spelled out.
SECRET_ENV: dict[str, str] = {
    "smtp_password": "VOC_SMTP_PASSWORD",
    "es_api_key": "VOC_ES_API_KEY",
    "es_password": "VOC_ES_PASSWORD",
    "weibo_cookie": "VOC_WEIBO_COOKIE",
    "tousu_cookie": "VOC_TOUSU_COOKIE",
    "dingtalk_secret": "VOC_DINGTALK_SECRET",
    "wecom_key": "VOC_WECOM_KEY",
    "pseudonym_salt": "VOC_PSEUDONYM_SALT",
}
SALT_FILE = "pseudonym_salt"


class Secrets(BaseModel):
    """Secret values from the environment (`SecretStr`, None when unset or empty). The values are
    reached only with `.get_secret_value()` by the part that needs them; repr, str and
    `Settings.describe()` show whether each is set, never what it is."""

    model_config = ConfigDict(frozen=True)

    smtp_password: SecretStr | None = None
    es_api_key: SecretStr | None = None
    es_password: SecretStr | None = None
    weibo_cookie: SecretStr | None = None
    tousu_cookie: SecretStr | None = None
    dingtalk_secret: SecretStr | None = None
    wecom_key: SecretStr | None = None
    pseudonym_salt: SecretStr | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Secrets:
        env = os.environ if env is None else env
        return cls(**{name: SecretStr(env[var]) if env.get(var) else None
                      for name, var in SECRET_ENV.items()})

    def value(self, name: str) -> str | None:
        """The secret's text, for the one call that sends it; None when unset."""
        secret = getattr(self, name)
        return secret.get_secret_value() if secret is not None else None

    def is_set(self) -> dict[str, bool]:
        """Which secrets are present; safe to print."""
        return {name: getattr(self, name) is not None for name in SECRET_ENV}

    def __repr__(self) -> str:
        # Values never appear, so a logged or printed Settings cannot leak them.
        shown = ", ".join(f"{name}={'***' if present else None}" for name, present in self.is_set().items())
        return f"Secrets({shown})"

    __str__ = __repr__


def pseudonym_salt(var_dir: str | Path, env: Mapping[str, str] | None = None) -> str:
    """The pseudonymisation salt: VOC_PSEUDONYM_SALT, else the one kept under `var_dir`.

    The kept salt is created on first use with mode 0600 and published atomically (write to a
    private temp file, then hard-link it into place), so two processes starting together agree.
    """
    env = os.environ if env is None else env
    if env.get(SECRET_ENV["pseudonym_salt"]):
        return env[SECRET_ENV["pseudonym_salt"]]
    directory = Path(var_dir)
    path = directory / SALT_FILE
    if not path.exists():
        _create_salt(directory, path)
    try:
        salt = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"pseudonym salt file {path} cannot be read: {exc}", source=str(path)) from exc
    if len(salt) < 32:
        raise ConfigError(f"pseudonym salt file {path} is empty or truncated; restore it from a backup "
                          "(deleting it changes every respondent's pseudonym)", source=str(path))
    return salt


def _create_salt(directory: Path, path: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{SALT_FILE}.{os.getpid()}.{_random.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(_random.token_hex(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process published first; theirs wins and is read back
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create pseudonym salt file {path}: {exc}", source=str(path)) from exc


# A key whose name ends like one of these holds a secret, wherever it sits in the file.
_SECRET_SUFFIXES = {
    "password": "VOC_SMTP_PASSWORD or VOC_ES_PASSWORD",
    "passwd": "VOC_SMTP_PASSWORD or VOC_ES_PASSWORD",
    "api_key": "VOC_ES_API_KEY",
    "apikey": "VOC_ES_API_KEY",
    "cookie": "VOC_WEIBO_COOKIE or VOC_TOUSU_COOKIE",
    "cookies": "VOC_WEIBO_COOKIE or VOC_TOUSU_COOKIE",
    "secret": "VOC_DINGTALK_SECRET",
    "salt": "VOC_PSEUDONYM_SALT",
}


def secret_hint(key: str) -> str | None:
    """The environment variable(s) to use instead, when `key` names a secret; else None."""
    name = key.lower()
    if name in SECRET_ENV:
        return SECRET_ENV[name]
    return next((var for suffix, var in _SECRET_SUFFIXES.items() if name.endswith(suffix)), None)
