"""Settings: the shipped file, file selection, VOC_* overrides, validation errors, secrets, salt."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from core.errors import ConfigError, VocError
from core.settings import SHIPPED_SETTINGS, Settings, load_settings
from core.settings.schema import SECTIONS
from core.settings.secrets import Secrets, pseudonym_salt


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths resolve against the working directory; keep every test in its own.
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "custom.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, **env: str) -> Settings:
    return load_settings(write(tmp_path, text), env=env)


def test_shipped_file_loads_with_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(env={})
    assert settings.source_path == SHIPPED_SETTINGS
    assert settings.app.timezone == "Asia/Shanghai"
    assert settings.display_tz == ZoneInfo("Asia/Shanghai")
    assert settings.bank.name == "江南银行"
    assert settings.bank.aliases == ("江南银行", "江南行", "Jiangnan Bank")
    assert settings.store.backend == "sqlite"
    assert settings.store.path == tmp_path / "var" / "voc.db"
    assert settings.app.var_dir == tmp_path / "var"
    assert settings.elasticsearch.hosts == ("http://localhost:9200",)
    assert settings.elasticsearch.ca_certs is None
    assert settings.nlp.model_path is None and settings.nlp.taxonomy is None
    assert settings.nlp.batch_size == 64 and settings.nlp.dedup_window_hours == 72.0
    assert settings.crawl["appstore"]["delay"] == 1.0
    assert set(settings.crawl) >= {"appstore", "weibo", "tousu", "rss"}
    rules = {rule["name"]: rule for rule in settings.alerts.rules}
    assert {r["type"] for r in rules.values()} == {"negative_spike", "negative_share", "risk_term",
                                                   "source_silent", "emerging_term", "cluster_growth",
                                                   "volume_spike", "case_overdue", "satisfaction_drop"}
    rule = rules["negative_spike_topic"]
    assert rule["type"] == "negative_spike"
    assert rule["group_by"] == ("topic",) and rule["min_ratio"] == 3.0
    assert set(settings.notify.recipients) == {"info", "warning", "critical"}
    assert settings.notify.smtp_host == "" and settings.notify.smtp_security == "starttls"
    assert dict(settings.notify.webhooks) == {"dingtalk": "", "wecom": ""}
    assert settings.notify.webhook_severities == ("warning", "critical")
    assert settings.alerts.recovery and settings.alerts.digest and settings.alerts.digest_time == "09:00"


def test_settings_are_read_only(tmp_path: Path) -> None:
    settings = load_settings(env={})
    with pytest.raises(ValidationError, match="frozen"):
        settings.store.backend = "elasticsearch"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.store = settings.store  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.crawl["appstore"]["delay"] = 5  # type: ignore[index]
    with pytest.raises(TypeError):
        settings.alerts.rules[0]["severity"] = "critical"  # type: ignore[index]


def test_shipped_file_agrees_with_schema_defaults(tmp_path: Path) -> None:
    """settings.toml and the schema cannot drift: the shipped file sets every schema key, no other,
    and each to its schema default, except keys the schema marks as examples (the bank's name,
    the rules, the recipients) — so an omitted key means what settings.toml documents for it."""
    raw = tomllib.loads(SHIPPED_SETTINGS.read_text("utf-8"))
    shipped, empty = load_settings(env={}), load_text(tmp_path, "")
    for name, model in SECTIONS.items():
        assert set(raw[name]) == set(model.model_fields), name
        for key, field in model.model_fields.items():
            if not (field.json_schema_extra or {}).get("example"):
                assert getattr(getattr(shipped, name), key) == getattr(getattr(empty, name), key), key
    assert set(raw) == {*SECTIONS, "crawl"}
    assert empty.alerts.rules == () and empty.crawl == {}


def test_file_selection_order(tmp_path: Path) -> None:
    write(tmp_path, '[bank]\nname = "cwd"\n', name="settings.toml")
    chosen = write(tmp_path, '[bank]\nname = "chosen"\n')
    argument = write(tmp_path, '[bank]\nname = "argument"\n', name="arg.toml")
    assert load_settings(env={}).bank.name == "cwd"
    assert load_settings(env={"VOC_SETTINGS": str(chosen)}).bank.name == "chosen"
    assert load_settings(argument, env={"VOC_SETTINGS": str(chosen)}).bank.name == "argument"
    assert load_settings(env={"VOC_SETTINGS": "custom.toml"}).source_path == chosen


def test_missing_selected_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.toml.*VOC_SETTINGS"):
        load_settings(env={"VOC_SETTINGS": str(tmp_path / "nowhere.toml")})


def test_overrides_parse_toml_literals(tmp_path: Path) -> None:
    settings = load_settings(env={
        "VOC_NLP__BATCH_SIZE": "16",
        "VOC_CRAWL__WEIBO__ENABLED": "false",
        "VOC_BANK__ALIASES": '["江南行", "JN"]',
        "VOC_STORE__PATH": "/data/voc.db",
        "VOC_STORE__BACKEND": "elasticsearch",
        "VOC_CRAWL__APPSTORE__DELAY": "2",
        "VOC_CRAWL__NEWSITE__URL": "https://example.com/news",
        "VOC_ALERTS__REALERT_HOURS": "1",
        "VOC_BANK__NAME": "123",
        "VOC_NOTIFY__RECIPIENTS__INFO": '["ops@example.com"]',
    })
    assert settings.nlp.batch_size == 16
    assert settings.crawl["weibo"]["enabled"] is False
    assert settings.crawl["weibo"]["keywords"] == ("江南银行", "江南行")  # untouched keys stay
    assert settings.bank.aliases == ("江南行", "JN")
    assert settings.store.path == Path("/data/voc.db")
    assert settings.store.backend == "elasticsearch"
    assert settings.crawl["appstore"]["delay"] == 2
    assert settings.crawl["newsite"]["url"] == "https://example.com/news"
    assert settings.alerts.realert_hours == 1.0
    assert settings.bank.name == "123"  # a string key keeps the text even when it looks like a number
    assert settings.notify.recipients["info"] == ("ops@example.com",)


def test_other_voc_variables_are_not_overrides(tmp_path: Path) -> None:
    env = {"VOC_SETTINGS": str(SHIPPED_SETTINGS), "VOC_TEST_ES_URL": "http://es:9200",
           "VOC_SMTP_PASSWORD": "pw", "VOC_PSEUDONYM_SALT": "s" * 40, "VOC_WECOM_KEY": "k",
           "VOC_LOGLEVEL": "debug", "NOT_VOC__STORE__PATH": "x"}
    assert load_settings(env=env).store.backend == "sqlite"


@pytest.mark.parametrize(("var", "value", "expect"), [
    ("VOC_STORE__BAKEND", "sqlite", r"store\.bakend.*did you mean 'backend'.*VOC_STORE__BAKEND"),
    ("VOC_NLP__BATCH_SIZE", "many", r"nlp\.batch_size: must be an integer.*VOC_NLP__BATCH_SIZE"),
    ("VOC_STORE__BACKEND", "mysql", r"store\.backend: must be one of sqlite, elastic.*VOC_STORE__BACKEND"),
    ("VOC_ALERTS__RULES", "[]", r"alerts\.rules: arrays of tables cannot be overridden"),
    ("VOC_ALERTS__RULES__0__NAME", "x", r"alerts\.rules: arrays of tables cannot be overridden"),
    ("VOC_STORE_PATH", "/x.db", r"VOC_STORE_PATH is not a settings override.*VOC_STORE__KEY"),
    ("VOC_STORE__PATH__DEEP", "1", r"store\.path: is not a table"),
    ("VOC_NOTIFY__SMTP_PASSWORD", "pw", r"notify\.smtp_password: is a secret; set VOC_SMTP_PASSWORD"),
])
def test_bad_overrides_name_the_variable(tmp_path: Path, var: str, value: str, expect: str) -> None:
    with pytest.raises(ConfigError, match=expect):
        load_settings(env={var: value})


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[store]\nbakend = "sqlite"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert "store.bakend" in str(caught.value) and str(path) in str(caught.value)
    assert "did you mean 'backend'" in str(caught.value)
    assert caught.value.key == "store.bakend" and caught.value.source == str(path)
    assert isinstance(caught.value, VocError)


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"notfy: unknown section 'notfy' \(did you mean 'notify'"):
        load_text(tmp_path, "[notfy]\nsmtp_host = 'x'\n")


@pytest.mark.parametrize(("text", "expect"), [
    ("[store]\npath = 5\n", r"store\.path: must be a non-empty path string, got integer 5"),
    ("[nlp]\nbatch_size = '64'\n", r"nlp\.batch_size: must be an integer, got string '64'"),
    ("[nlp]\nbatch_size = true\n", r"nlp\.batch_size: must be an integer, got boolean"),
    ("[nlp]\nbatch_size = 0\n", r"nlp\.batch_size: must be greater than 0"),
    ("[bank]\naliases = 'one'\n", r"bank\.aliases: must be an array of strings"),
    ("store = 'sqlite'\n", r"store: must be a table"),
    ("[store]\nbackend = 'mysql'\n", r"store\.backend: must be one of sqlite, elasticsearch, got 'mysql'"),
    ("[notify]\nsmtp_security = 'tls'\n", r"notify\.smtp_security: must be one of starttls, ssl, none"),
    ("[app]\ntimezone = 'Mars/Olympus'\n", r"app\.timezone: unknown time zone 'Mars/Olympus'"),
    ("[nlp]\ndevice = 'gpu'\n", r"nlp\.device: must be cpu, cuda"),
    ("[notify]\nsmtp_port = 70000\n", r"notify\.smtp_port: must be a TCP port"),
    ("[notify.recipients]\nurgent = []\n", r"notify\.recipients\.urgent: unknown severity"),
    ("[notify.recipients]\ncritical = ['nobody']\n", r"notify\.recipients\.critical: must be an email"),
    ("[notify.webhooks]\nslack = ''\n", r"notify\.webhooks\.slack: unknown webhook"),
    ("[elasticsearch]\nhosts = ['localhost:9200']\n", r"elasticsearch\.hosts: must be an http\(s\) URL"),
    ("[elasticsearch]\nindex_prefix = 'VOC'\n", r"elasticsearch\.index_prefix: must be an index name"),
    ("[[alerts.rules]]\nname = 'a'\n", r"alerts\.rules\[0\]\.type: is required"),
    ("[[alerts.rules]]\nname='a'\ntype='t'\n[[alerts.rules]]\nname='a'\ntype='t'\n",
     r"alerts\.rules\[1\]\.name: duplicate rule name 'a'"),
    ("[[alerts.rules]]\nname='a'\ntype='t'\nseverity='high'\n", r"rules\[0\]\.severity: must be one of info"),
    ("[crawl]\nappstore = 1\n", r"crawl\.appstore: must be a table"),
])
def test_bad_values_name_key_and_file(tmp_path: Path, text: str, expect: str) -> None:
    with pytest.raises(ConfigError, match=expect) as caught:
        load_text(tmp_path, text)
    assert str(tmp_path / "custom.toml") in str(caught.value)


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"custom\.toml is not valid TOML.*line 2"):
        load_text(tmp_path, "[store]\nbackend = \n")


def test_relative_paths_resolve_against_working_directory(tmp_path: Path) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    path = write(conf_dir, "[store]\npath = 'data/x.db'\n[nlp]\nmodel_path = 'models/m'\n"
                           "[notify]\noutbox = '/srv/outbox'\n")
    settings = load_settings(path, env={})
    assert settings.store.path == tmp_path / "data" / "x.db"
    assert settings.nlp.model_path == tmp_path / "models" / "m"
    assert settings.notify.outbox == Path("/srv/outbox")


def test_secrets_come_only_from_environment(tmp_path: Path) -> None:
    settings = load_settings(env={"VOC_SMTP_PASSWORD": "hunter2-smtp", "VOC_ES_API_KEY": "key-123",
                                  "VOC_WEIBO_COOKIE": "SUB=abc", "VOC_DINGTALK_SECRET": ""})
    assert settings.secrets.value("smtp_password") == "hunter2-smtp"
    assert settings.secrets.value("es_api_key") == "key-123"
    assert settings.secrets.value("weibo_cookie") == "SUB=abc"
    assert settings.secrets.dingtalk_secret is None  # empty means unset
    shown = repr(settings) + str(settings.secrets) + json.dumps(settings.describe(), ensure_ascii=False)
    for value in ("hunter2-smtp", "key-123", "SUB=abc"):
        assert value not in shown
    assert "smtp_password=***" in repr(settings.secrets) and "es_password=None" in repr(settings.secrets)
    assert settings.describe()["secrets"]["es_api_key"] == "set"


@pytest.mark.parametrize(("text", "expect"), [
    ("[notify]\nsmtp_password = 'pw'\n", r"notify\.smtp_password: secrets come from env.*VOC_SMTP_PASSWORD"),
    ("[elasticsearch]\napi_key = 'k'\n", r"elasticsearch\.api_key: secrets come.*VOC_ES_API_KEY"),
    ("[crawl.weibo]\ncookie = 'SUB=1'\n", r"crawl\.weibo\.cookie: secrets come.*VOC_WEIBO_COOKIE"),
    ("[[alerts.rules]]\nname='a'\ntype='t'\nwecom_key='k'\n", r"alerts\.rules\[0\]\.wecom_key: secrets come"),
    ("[elasticsearch]\nhosts = ['https://elastic:pw@es:9200']\n", r"\.hosts: must not carry a password"),
])
def test_secret_in_file_is_an_error(tmp_path: Path, text: str, expect: str) -> None:
    with pytest.raises(ConfigError, match=expect):
        load_text(tmp_path, text)


def test_describe_is_plain_and_masks_webhook_tokens(tmp_path: Path) -> None:
    url = "https://oapi.dingtalk.com/robot/send?access_token=abcdef"
    settings = load_settings(env={"VOC_NOTIFY__WEBHOOKS__DINGTALK": url})
    assert settings.notify.webhooks["dingtalk"] == url
    described = settings.describe()
    assert described["notify"]["webhooks"]["dingtalk"] == "https://oapi.dingtalk.com/robot/send?***"
    assert described["store"]["path"] == str(tmp_path / "var" / "voc.db")
    assert "abcdef" not in json.dumps(described)


def test_salt_file_created_once_and_reused(tmp_path: Path) -> None:
    var = tmp_path / "state"
    first = pseudonym_salt(var, env={})
    salt_file = var / "pseudonym_salt"
    assert stat.S_IMODE(salt_file.stat().st_mode) == 0o600
    assert len(first) == 64
    assert pseudonym_salt(var, env={}) == first
    assert pseudonym_salt(tmp_path / "other", env={}) != first  # random, not derived
    assert sorted(p.name for p in var.iterdir()) == ["pseudonym_salt"]  # no temp files left


def test_salt_from_environment_wins_and_writes_nothing(tmp_path: Path) -> None:
    assert pseudonym_salt(tmp_path / "state", env={"VOC_PSEUDONYM_SALT": "from-env"}) == "from-env"
    assert not (tmp_path / "state").exists()
    settings = load_settings(env={"VOC_PSEUDONYM_SALT": "from-env"})
    assert settings.pseudonym_salt() == "from-env"


def test_settings_salt_uses_var_dir(tmp_path: Path) -> None:
    settings = load_settings(env={"VOC_APP__VAR_DIR": "runtime"})
    salt = settings.pseudonym_salt()
    assert (tmp_path / "runtime" / "pseudonym_salt").read_text().strip() == salt
    assert load_settings(env={"VOC_APP__VAR_DIR": "runtime"}).pseudonym_salt() == salt


def test_truncated_salt_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "pseudonym_salt").write_text("short")
    with pytest.raises(ConfigError, match="empty or truncated"):
        pseudonym_salt(tmp_path / "var", env={})


def test_secrets_from_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOC_TOUSU_COOKIE", "c=1")
    assert Secrets.from_env().value("tousu_cookie") == "c=1"
    assert os.environ["VOC_TOUSU_COOKIE"] not in repr(Secrets.from_env())


@pytest.mark.parametrize("value, seconds", [("8h", 28800.0), ("30m", 1800.0), ("7d", 604800.0)])
def test_web_session_lifetime(value: str, seconds: float) -> None:
    from core.settings.schema import lifetime_seconds

    conf = load_settings(env={"VOC_WEB__SESSION_LIFETIME": value})
    assert lifetime_seconds(conf.web.session_lifetime) == seconds


def test_a_bad_session_lifetime_names_the_key() -> None:
    with pytest.raises(ConfigError, match="session_lifetime") as err:
        load_settings(env={"VOC_WEB__SESSION_LIFETIME": "forever"})
    assert "30m, 8h or 7d" in str(err.value)
