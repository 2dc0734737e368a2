"""CSAT, NPS, intervals and driver gaps on a generated survey in a real SQLite store, against the
same figures computed here from the generated answers by plain loops (not by care.satisfaction),
and `voc csat --json` in the issue's shape."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from care.satisfaction import responses, scale_of, summarize
from core.record import Feedback, Sentiment, make_id
from indexer.sqlite import SqliteStore

START = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Beijing
CHANNELS = ("营业网点", "手机银行APP", "电话客服")


def generate(seed: int, n: int, scale: tuple[int, int]) -> list[dict]:
    """n responses: channel, rating on `scale`, and the topics their open answers mention; a
    response has one or two open answers (records), so responses and records differ."""
    rng = random.Random(seed)
    low, high = scale
    out = []
    for i in range(n):
        channel = CHANNELS[i % 3]
        fee = rng.random() < 0.3
        base = rng.randint(low, high)
        rating = max(low, base - (2 if fee else 0))
        out.append({"line": i + 2, "channel": channel, "rating": float(rating), "fee": fee,
                    "answers": 1 + (i % 2), "at": START + timedelta(days=i % 40, minutes=i)})
    return out


def to_records(survey: list[dict], survey_id: str, scale: tuple[int, int]) -> list[Feedback]:
    question = f"3、总体满意度（{scale[0]}-{scale[1]}分）"
    records = []
    for r in survey:
        choices = {"2、您最常使用的服务渠道": r["channel"], question: str(int(r["rating"]))}
        for k in range(r["answers"]):
            text = "收费太贵，年费乱扣" if r["fee"] and k == 0 else "整体还行"  # identical texts repeat
            records.append(Feedback(
                id=make_id("survey:wjx", native_id=f"{survey_id}:{r['line']}:q{k}"), source="survey:wjx",
                kind="survey", text=text, created_at=r["at"], rating=r["rating"],
                sentiment=Sentiment("neutral", {"negative": 0.2, "neutral": 0.6, "positive": 0.2}, "t"),
                topics=["收费/手续费"] if r["fee"] and k == 0 else [],
                meta={"survey_id": survey_id, "line": r["line"], "choices": choices, "question": f"q{k}"}))
    return records


def wilson(k: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


@pytest.fixture
def five(tmp_path):
    survey = generate(1, 240, (1, 5))
    store = SqliteStore(tmp_path / "voc.db")
    store.upsert(to_records(survey, "s5", (1, 5)))
    yield store, survey
    store.close()


def test_csat_by_channel_matches_an_independent_count(five):
    store, survey = five
    rs = responses(store)
    assert len(rs) == len(survey)  # one per response, though half of them wrote two answers
    table = summarize(rs, ["channel"], min_n=30)
    assert table.scale == "1-5"
    for channel in CHANNELS:
        mine = [r["rating"] for r in survey if r["channel"] == channel]
        tops = sum(1 for v in mine if v >= 4)
        [group] = [g for g in table.groups if g["key"] == {"channel": channel}]
        assert group["n"] == len(mine) and group["mean"] == pytest.approx(sum(mine) / len(mine), abs=1e-4)
        assert group["csat"] == pytest.approx(tops / len(mine), abs=1e-4)
        lo, hi = wilson(tops, len(mine))
        assert group["csat_ci"] == pytest.approx([lo, hi], abs=1e-4)
        assert group["nps"] is None and group["small"] is False


def test_a_reimport_changes_nothing_and_small_groups_are_flagged(five):
    store, survey = five
    before = summarize(responses(store), ["channel"]).to_dict()
    store.upsert(to_records(survey, "s5", (1, 5)))
    assert summarize(responses(store), ["channel"]).to_dict() == before
    month = summarize(responses(store), ["channel", "month"], min_n=50)
    assert all(g["small"] == (g["n"] < 50) for g in month.groups)
    ranked = [g["small"] for g in month.groups]
    assert ranked == sorted(ranked)  # flagged groups come after the ranked ones


def test_drivers_gap_matches_an_independent_mean(five):
    from care.satisfaction import drivers

    store, survey = five
    [fee] = [d for d in drivers(responses(store)) if d["name"] == "收费"]
    norm = [(r["rating"] - 1) / 4 for r in survey]
    has = [v for v, r in zip(norm, survey, strict=True) if r["fee"]]
    rest = [v for v, r in zip(norm, survey, strict=True) if not r["fee"]]
    assert fee["mentions"] == len(has) and fee["gap"] == pytest.approx(
        sum(has) / len(has) - sum(rest) / len(rest), abs=1e-4)
    assert fee["gap"] < 0 and fee["gap_ci"][1] < 0  # fees pull satisfaction down, clearly


def test_nps_on_a_ten_point_scale(tmp_path):
    survey = generate(2, 300, (0, 10))
    store = SqliteStore(tmp_path / "voc.db")
    try:
        store.upsert(to_records(survey, "s10", (0, 10)))
        [overall] = summarize(responses(store)).groups
    finally:
        store.close()
    ratings = [r["rating"] for r in survey]
    promoters = sum(1 for v in ratings if v >= 9)
    detractors = sum(1 for v in ratings if v <= 6)
    assert overall["nps"] == pytest.approx(100 * (promoters - detractors) / len(ratings), abs=0.01)
    lo, hi = overall["nps_ci"]
    assert lo < overall["nps"] < hi and hi - lo < 30
    assert overall["csat"] == pytest.approx(sum(1 for v in ratings if v >= 7) / len(ratings), abs=1e-4)


@pytest.mark.parametrize("question, values, scale", [
    ("总体满意度（1-5分）", [5], (1, 5)), ("推荐意愿 0-10", [3], (0, 10)), ("满意度", [1, 7], (1, 7)),
    ("满意度", [0, 9], (0, 10)), ("满意度", [2, 4], (1, 5)), ("满意度", [1, 10], (1, 10))])
def test_scales_from_the_wording_or_the_answers(question, values, scale):
    assert scale_of(question, values) == scale


def test_voc_csat_json_shape(five, capsys, monkeypatch):
    from voc.cli import main

    store, _ = five
    monkeypatch.setenv("VOC_STORE__PATH", str(store.path))
    assert main(["csat", "--by", "channel", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scale"] == "1-5" and len(data["groups"]) == 3
    assert {"key", "n", "mean", "csat", "csat_ci", "nps"} <= set(data["groups"][0])
    assert main(["csat", "drivers", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["responses"] == 240
    assert main(["csat", "--by", "shoe_size"]) == 2


def _r2(y: list[float], xs: list[list[float]]) -> float:
    """R² of y on the columns xs (with an intercept), by the normal equations, here in the test."""
    import numpy as np

    design = np.column_stack([np.ones(len(y)), *[np.array(x) for x in xs]])
    beta = np.linalg.solve(design.T @ design, design.T @ np.array(y))
    fitted = design @ beta
    mean = sum(y) / len(y)
    return 1 - float(((np.array(y) - fitted) ** 2).sum()) / sum((v - mean) ** 2 for v in y)


def test_key_drivers_are_the_shapley_shares_of_r2():
    """Two sub-ratings: Shapley gives each (R²(own) + R²(both) − R²(other)) / 2, summing to R²."""
    from care.satisfaction import Response, key_drivers

    rng = random.Random(5)
    rs, ys, wait, staff = [], [], [], []
    for i in range(200):
        w, s = rng.randint(1, 5), rng.randint(1, 5)
        y = max(1, min(5, round(0.7 * w + 0.3 * s + rng.gauss(0, 0.6))))
        rs.append(Response(key=f"k{i}", rating=float(y), scale=(1, 5), created_at=START, question="总体",
                           ratings={"总体": float(y), "等候": float(w), "柜员": float(s)}))
        ys.append(float(y)), wait.append(float(w)), staff.append(float(s))
    found = key_drivers(rs)
    both, only_wait, only_staff = _r2(ys, [wait, staff]), _r2(ys, [wait]), _r2(ys, [staff])
    shares = {d["question"]: d["r2_share"] for d in found["drivers"]}
    assert shares["等候"] == pytest.approx((only_wait + both - only_staff) / 2, abs=1e-4)
    assert shares["柜员"] == pytest.approx((only_staff + both - only_wait) / 2, abs=1e-4)
    assert found["r2"] == pytest.approx(both, abs=1e-4) and found["drivers"][0]["question"] == "等候"
    assert "Shapley" in found["method"]


def test_by_question_gives_each_rating_question_a_row(tmp_path):
    from care.satisfaction import Response

    rs = [Response(key=f"k{i}", rating=5.0 if i % 2 else 2.0, scale=(1, 5), created_at=START,
                   question="总体满意度（1-5分）",
                   ratings={"总体满意度（1-5分）": 5.0 if i % 2 else 2.0, "等候时间满意度（1-5分）": 1.0})
          for i in range(10)]
    table = summarize(rs, ["question"], min_n=5)
    rows = {g["key"]["question"]: g for g in table.groups}
    assert rows["总体满意度（1-5分）"]["csat"] == 0.5 and rows["等候时间满意度（1-5分）"]["csat"] == 0.0
    assert all(g["n"] == 10 for g in table.groups)


def test_map_names_segment_columns(tmp_path):
    """`--map branch=机构` keeps that column as the branch segment, whatever its title says."""
    from core.response import from_record
    from crawlers.importers import import_file

    export = tmp_path / "回访.csv"
    export.write_text("编号,提交时间,机构,评分,意见\n1,2026-05-01 10:00,鼓楼支行,2,排队太久了等了一个小时\n"
                      "2,2026-05-01 11:00,西湖支行,5,柜员服务很好很耐心\n", encoding="utf-8")
    result = import_file(export, platform="csv", mapping="text=意见,rating=评分,branch=机构,respondent=编号",
                         salt="test-salt")
    assert [r.meta["segments"] for r in result.records] == [{"branch": "鼓楼支行"}, {"branch": "西湖支行"}]
    assert [from_record(r)["segments"]["branch"] for r in result.records] == ["鼓楼支行", "西湖支行"]
    assert [d["segments"] for d in result.responses] == [{"branch": "鼓楼支行"}, {"branch": "西湖支行"}]
    assert [r.rating for r in result.records] == [2.0, 5.0]


def test_survey_and_social_side_by_side(five):
    from care.satisfaction import survey_and_social

    store, survey = five
    posts = [Feedback(id=f"p{i}", source="weibo", kind="post", text="年费太贵", created_at=START,
                      sentiment=Sentiment("negative" if i < 3 else "neutral",
                                          {"negative": 0.8, "neutral": 0.1, "positive": 0.1}, "t"),
                      topics=["收费/手续费"]) for i in range(4)]
    store.upsert(posts)
    [fee] = [t for t in survey_and_social(store, responses(store)) if t["topic"] == "收费"]
    assert (fee["social_total"], fee["social_negative"], fee["social_negative_share"]) == (4, 3, 0.75)
    assert fee["survey_mentions"] == sum(1 for r in survey if r["fee"]) and fee["survey_gap"] < 0


def test_the_digest_has_a_satisfaction_section(five, tmp_path):
    from email import message_from_bytes
    from email.policy import default

    from core.settings import load_settings
    from voc.alerting import send_daily_digest

    store, survey = five
    settings = load_settings(env={"VOC_STORE__PATH": str(store.path),
                                  "VOC_NOTIFY__OUTBOX": str(tmp_path / "out")})
    send_daily_digest(settings, store, now=START + timedelta(days=31))
    [eml] = list((tmp_path / "out").glob("*.eml"))
    text = message_from_bytes(eml.read_bytes(), policy=default).get_body(("plain",)).get_content()
    assert "满意度（近 30 天，按网点）" in text and "份问卷回答" in text


def test_wording_scales_are_read_as_ratings(tmp_path):
    from crawlers.importers import import_file

    export = tmp_path / "回访.csv"
    export.write_text("编号,提交时间,3、总体满意度,4、您向朋友推荐我行的意愿,5、是否愿意接受回访,意见\n"
                      "1,2026-05-01 10:00,非常满意,不太愿意,愿意,柜员服务很好很耐心\n", encoding="utf-8")
    [doc] = import_file(export, platform="csv", mapping="text=意见,respondent=编号",
                        salt="test-salt").responses
    assert doc["rating"] == 5.0 and doc["question"] == "3、总体满意度"
    assert doc["ratings"] == {"3、总体满意度": 5.0, "4、您向朋友推荐我行的意愿": 2.0}  # consent is no rating


def test_a_response_without_an_open_answer_counts(tmp_path, capsys, monkeypatch):
    """Three responses, one of which only ticked its rating: `voc import` keeps its response
    document, `voc csat` counts all three, and a re-import counts them once. Branch answers are
    named as the taxonomy's branch entity (with our bank: it is the bank's own survey), so
    「鼓楼支行」 and 「鼓樓 支行」 are one branch."""
    from voc.cli import main

    export = tmp_path / "survey.csv"
    export.write_text("编号,提交时间,网点,总体满意度（1-5分）,意见\n"
                      "1,2026-05-01 10:00,鼓楼支行,2,排队太久了等了一个小时\n"
                      "2,2026-05-01 11:00,鼓樓 支行,5,\n"
                      "3,2026-05-01 12:00,西湖支行,4,柜员服务很好很耐心\n", encoding="utf-8")
    monkeypatch.setenv("VOC_STORE__PATH", str(tmp_path / "voc.db"))
    monkeypatch.setenv("VOC_PSEUDONYM_SALT", "test-salt")
    args = ["import", str(export), "--platform", "csv",
            "--map", "text=意见,respondent=编号,rating=总体满意度（1-5分）"]
    for _ in range(2):
        assert main(args) == 0
        capsys.readouterr()
        assert main(["csat", "--by", "branch", "--min-n", "1", "--json"]) == 0
        groups = {g["key"]["branch"]: g for g in json.loads(capsys.readouterr().out)["groups"]}
        assert set(groups) == {"江南银行鼓楼支行", "江南银行西湖支行"}
        assert (groups["江南银行鼓楼支行"]["n"], groups["江南银行鼓楼支行"]["csat"]) == (2, 0.5)
        assert groups["江南银行西湖支行"]["n"] == 1


def test_the_store_counted_table_is_the_table_of_the_responses(five):
    """`csat_table` (counted by the store) and `summarize(responses())` (every document read) give
    the same groups, by channel and month, and by channel and week."""
    from care.satisfaction import csat_table

    store, _ = five
    for by in (["channel", "month"], ["channel", "week"], []):
        counted = sorted(json.dumps(g, sort_keys=True) for g in csat_table(store, by, min_n=30).groups)
        read = sorted(json.dumps(g, sort_keys=True) for g in summarize(responses(store), by, min_n=30).groups)
        assert counted == read, by


def test_nps_interval_agrees_with_a_plain_bootstrap():
    """The multinomial bootstrap against resampling the answers one by one (here, seeded)."""
    from care.satisfaction import nps_interval

    rng = random.Random(9)
    ratings = [float(min(10, max(0, round(rng.gauss(7.5, 2))))) for _ in range(400)]
    draws = []
    for _ in range(2000):
        sample = [rng.choice(ratings) for _ in ratings]
        draws.append(100 * (sum(v >= 9 for v in sample) - sum(v <= 6 for v in sample)) / len(sample))
    draws.sort()
    plain = (draws[50], draws[1949])
    counts: dict[float, int] = {}
    for v in ratings:
        counts[v] = counts.get(v, 0) + 1
    lo, hi = nps_interval(counts)
    assert lo == pytest.approx(plain[0], abs=2.5) and hi == pytest.approx(plain[1], abs=2.5)


def test_a_later_export_of_the_same_survey_counts_each_respondent_once(tmp_path):
    """Responses are keyed by the respondent's pseudonym, not the line: a later export of the
    responses since a date (one already imported, one new, on lines 2 and 3) adds the new one
    and overwrites nobody (by line, they would replace the first export's first two)."""
    from crawlers.importers import import_file

    head = ("序号,提交答卷时间,所用时间,来源,来源详情,来自IP,1、您办理业务的网点,2、总体满意度（1-5分）,"
            "3、意见\n")
    rows = ["1,2026/5/1 10:00:00,51秒,手机提交,直接访问,192.0.2.1(江苏-南京),鼓楼支行,2,排队太久",
            "2,2026/5/1 11:00:00,40秒,手机提交,直接访问,192.0.2.2(江苏-南京),鼓楼支行,5,很好",
            "3,2026/5/1 12:00:00,33秒,手机提交,直接访问,192.0.2.3(江苏-南京),西湖支行,4,(跳过)"]
    extra = "4,2026/5/2 09:00:00,20秒,手机提交,直接访问,192.0.2.4(江苏-南京),西湖支行,1,太差了"
    first = tmp_path / "418220599_按文本_网点满意度调查_3_3.csv"
    later = tmp_path / "418220599_按文本_网点满意度调查_2_2.csv"  # exported from a later date on
    first.write_text(head + "\n".join(rows) + "\n", encoding="utf-8")
    later.write_text(head + "\n".join([rows[2], extra]) + "\n", encoding="utf-8")
    store = SqliteStore(tmp_path / "voc.db")
    try:
        for path in (first, later):
            result = import_file(path, platform="wjx", salt="test-salt")
            assert {d["question"] for d in result.responses} == {"2、总体满意度（1-5分）"}
            store.upsert(result.records)
            store.put_responses(result.responses)
        rs = responses(store)
        assert len(rs) == 4 and sorted(r.rating for r in rs) == [1.0, 2.0, 4.0, 5.0]
    finally:
        store.close()


def test_a_city_column_is_a_segment_only_where_the_operator_names_it(tmp_path):
    from crawlers.importers import import_file

    export = tmp_path / "回访.csv"
    export.write_text("编号,提交时间,所在城市,总体满意度（1-5分）,意见\n"
                      "1,2026-05-01 10:00,南京,2,排队太久了等了一个小时\n", encoding="utf-8")
    plain = import_file(export, platform="csv", mapping="text=意见,respondent=编号", salt="test-salt")
    assert "所在城市" in plain.personal_columns and "city" not in plain.responses[0]["segments"]
    assert "南京" not in json.dumps(plain.responses[0], ensure_ascii=False)
    named = import_file(export, platform="csv", mapping="text=意见,respondent=编号,city=所在城市",
                        salt="test-salt")
    assert named.responses[0]["segments"] == {"city": "南京"}
