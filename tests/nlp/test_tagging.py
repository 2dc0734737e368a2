"""nlp.tagging + nlp.taxonomy: topics, risk flags, entities, offsets, editable taxonomy file."""

import json
from pathlib import Path

import pytest

from nlp.errors import TaxonomyError
from nlp.tagging import Tagger

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sentiment"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.from_file(bank_name="招商银行", bank_aliases=["招行", "CMB"])


# (topic, text that must carry it, near-miss text that must not)
TOPICS = [
    ("服务态度", "柜员态度恶劣，爱答不理", "端正学习态度"),
    ("排队等候", "网点排队等了两个小时", "排队买奶茶好开心"),
    ("收费/手续费", "跨行转账还要收手续费", "高速收费站堵车"),
    ("手机银行", "手机银行真难用", "今天天气真好"),
    ("手机银行/闪退", "app一打开就闪退", "app界面很好看"),
    ("手机银行/登录", "更新后登录不上", "已经登录成功"),
    ("手机银行/验证码", "一直收不到验证码", "短信通知很及时"),
    ("手机银行/转账失败", "手机银行转账失败三次", "柜台转账失败"),  # needs the app too
    ("网上银行", "网银U盾又过期了", "网上冲浪"),
    ("信用卡", "信用卡刚下卡", "储蓄卡刚开户"),
    ("信用卡/额度", "又被降额了", "贷款额度批了"),
    ("信用卡/年费", "白金卡年费太贵", "会员费太贵"),
    ("信用卡/分期", "账单分期利息高", "一次性付清"),
    ("信用卡/还款", "信用卡逾期还款了", "贷款还款日到了"),  # needs 信用卡 itself
    ("信用卡/催收", "催收天天打电话给家人", "客户经理来电话"),
    ("贷款/房贷", "房贷利率什么时候降", "租房好贵"),
    ("理财/基金/存款利率", "理财产品亏损了", "存钱罐满了"),
    ("账户", "银行卡开户要排队", "微信号注册"),
    ("账户/冻结", "卡被冻结了，非柜面限制", "冰箱冷冻室"),
    ("账户/挂失", "卡丢了要去挂失", "钥匙丢了"),
    ("账户/销户", "我要销户", "我要开户"),
    ("转账/支付", "转账一直不到账", "用支付宝买东西"),
    ("征信", "逾期会上征信吗", "信用很好"),
    ("ATM/网点", "ATM吞卡了", "自动售货机吞币"),
    ("客服热线", "打95555转人工一直打不通", "电话打通了家里"),
    ("营销骚扰", "天天打电话推销保险", "性骚扰案件"),
    ("安全", "个人信息泄露了", "很有安全感"),
    ("安全/盗刷", "卡被盗刷了五千", "刷卡消费五千"),
    ("安全/诈骗", "接到假客服电话被骗", "参加反诈宣传"),
]


@pytest.mark.parametrize(("topic", "positive", "near_miss"), TOPICS, ids=[t[0] for t in TOPICS])
def test_each_topic(tagger, topic, positive, near_miss):
    assert topic in tagger.tag(positive).topics
    assert topic not in tagger.tag(near_miss).topics


def test_subtopic_tags_parent_and_several_topics(tagger):
    topics = tagger.tag("招行信用卡被暴力催收，手机银行也闪退").topics
    assert {"信用卡", "信用卡/催收", "手机银行", "手机银行/闪退"} <= set(topics)


# (flag, severity, text that raises it, near-miss text that must not)
RISKS = [
    ("regulator_complaint", "warning", "我已经投诉到金融监管总局了", "走人行道注意安全"),
    ("regulator_complaint", "warning", "打12378举报你们", "电话号码是123456"),
    ("media_exposure", "warning", "我要找记者曝光你们", "这张照片曝光率太高"),
    ("legal", "warning", "我已经请律师准备起诉", "家里装了烟雾报警器"),
    ("collective_action", "warning", "受害的人拉了个维权群", "我们村是集体户口"),
    ("solvency", "critical", "听说这家银行要倒闭了，快去挤兑", "这家银行服务不错"),
    ("solvency", "critical", "存款取不出来了", "去ATM取了钱"),
    ("fraud_theft", "warning", "卡被盗刷，钱被转走了", "参加防诈骗讲座"),
    ("threat", "critical", "再不解决我就从你们楼上跳楼", "楼上邻居很吵"),
    ("complaint", "info", "我要投诉这个柜员", "表扬这个柜员"),
]


@pytest.mark.parametrize(("flag", "severity", "positive", "near_miss"), RISKS,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(RISKS)])
def test_each_risk_family(tagger, flag, severity, positive, near_miss):
    assert {"flag": flag, "severity": severity} in tagger.tag(positive).risk
    assert flag not in {r["flag"] for r in tagger.tag(near_miss).risk}


def risk_of(tagger, text, flag):
    return next((r["severity"] for r in tagger.tag(text).risk if r["flag"] == flag), None)


def test_bank_run_rumour_is_critical(tagger):
    assert risk_of(tagger, "网传某银行暴雷，大家都去取钱", "solvency") == "critical"


@pytest.mark.parametrize(("weaker", "stronger", "flag"), [
    ("我不会去曝光的", "我要曝光你们", "media_exposure"),
    ("没有报警，私下解决了", "我已经报警了", "legal"),
    ("别起诉我", "我要起诉你们", "legal"),
    ("不会倒闭的，放心", "这家银行要倒闭了", "solvency"),
    ("新闻说“挤兑”是谣言", "大家都去挤兑了", "solvency"),
])
def test_negation_and_quotation_weaken(tagger, weaker, stronger, flag):
    order = [None, "info", "warning", "critical"]
    assert order.index(risk_of(tagger, weaker, flag)) < order.index(risk_of(tagger, stronger, flag))


def test_negation_does_not_reach_across_other_words(tagger):
    # "不" belongs to 解决, not to 曝光.
    assert risk_of(tagger, "再不解决我就去曝光", "media_exposure") == "warning"


def test_negated_info_hit_is_dropped(tagger):
    assert risk_of(tagger, "我不投诉了", "complaint") is None


def test_traditional_input(tagger):
    tags = tagger.tag("手機銀行又閃退，轉賬失敗，我要向銀保監投訴")
    assert {"手机银行", "手机银行/闪退", "手机银行/转账失败"} <= set(tags.topics)
    assert {"flag": "regulator_complaint", "severity": "warning"} in tags.risk


def test_html_input_offsets_point_into_the_html(tagger):
    text = '<a href="/n/x">@某人</a> <span><img alt="[怒]"></span>建行app闪退'
    tags = tagger.tag(text)
    assert "手机银行/闪退" in tags.topics
    banks = [e for e in tags.entities if e["type"] == "bank"]
    assert [(e["text"], e["canonical"]) for e in banks] == [("建行", "建设银行")]
    assert text[banks[0]["start"]:banks[0]["end"]] == "建行"


@pytest.mark.parametrize("text", [
    "工商银行北京分行朝阳支行的柜员态度很差",
    "ＩＣＢＣ的信用卡，招行的金葵花，台州银行的房贷",
    "😡😡招商银行😡信用卡额度太低，上海的网点也难找",
    "中國建設銀行深圳分行",
])
def test_offsets_are_code_points_into_the_original(tagger, text):
    entities = tagger.tag(text).entities
    assert entities
    for e in entities:
        assert text[e["start"]:e["end"]] == e["text"]
        assert set(e) == {"type", "text", "canonical", "ours", "start", "end"}
        assert e["type"] in ("bank", "product", "branch", "city")


def test_entities_banks_products_branches_cities(tagger):
    tags = tagger.tag("工商银行北京分行朝阳支行办了白金卡，ICBC的房贷也在这")
    found = {(e["type"], e["text"], e["canonical"]) for e in tags.entities}
    assert ("bank", "工商银行", "工商银行") in found
    assert ("branch", "北京分行", "工商银行北京分行") in found
    assert ("branch", "朝阳支行", "朝阳支行") in found
    assert ("city", "北京", "北京") in found
    assert ("product", "白金卡", "白金卡") in found
    assert ("bank", "ICBC", "工商银行") in found
    assert ("product", "房贷", "房贷") in found


def test_city_followed_by_bank_suffix_is_a_bank(tagger):
    banks = [e["canonical"] for e in tagger.tag("台州银行的卡").entities if e["type"] == "bank"]
    assert banks == ["台州银行"]


def test_ours_vs_competitor(tagger):
    ents = tagger.tag("招行比建行好，CMB朝阳支行服务好").entities
    by_text = {e["text"]: e for e in ents}
    assert by_text["招行"]["ours"] is True and by_text["招行"]["canonical"] == "招商银行"
    assert by_text["CMB"]["ours"] is True
    assert by_text["建行"]["ours"] is False
    assert by_text["朝阳支行"]["ours"] is True  # written right after our bank


def test_our_bank_not_in_builtin_table():
    tagger = Tagger.from_file(bank_name="示例银行", bank_aliases=["示例行"])
    ents = tagger.tag("示例行的客服比工行好").entities
    assert [(e["canonical"], e["ours"]) for e in ents if e["type"] == "bank"] == [
        ("示例银行", True), ("工商银行", False)]


def test_no_bank_configured_means_nothing_is_ours():
    ents = Tagger.from_file().tag("招行信用卡").entities
    assert all(e["ours"] is False for e in ents)


@pytest.mark.parametrize(("text", "expected"), [
    ("平安的信用卡额度太低", ["平安银行"]),
    ("祝大家平安喜乐", []),
    ("平安夜去银行办卡", []),             # excluded phrase even with context
    ("交通19000一分没用", ["交通银行"]),   # an amount right after is a credit line
    ("这里交通方便，离地铁近", []),
    ("招商的额度给了5万", ["招商银行"]),
    ("政府搞招商引资，开了很多店", []),
    ("民生问题要重视", []),
    ("兴业和招商都拒了我", ["兴业银行", "招商银行"]),
    ("工商局来检查了", []),
    ("建设社会主义新农村", []),
    ("光大的白金卡", ["光大银行"]),
    ("华夏文明源远流长", []),
])
def test_ambiguous_short_forms_need_context(tagger, text, expected):
    assert [e["canonical"] for e in tagger.tag(text).entities if e["type"] == "bank"] == expected


def test_banking_source_accepts_bare_short_forms(tagger):
    assert [e["text"] for e in tagger.tag("民生还搞地域歧视").entities] == []
    banks = tagger.tag("民生还搞地域歧视", banking=True).entities
    assert [(e["canonical"], e["start"], e["end"]) for e in banks] == [("民生银行", 0, 2)]
    assert tagger.tag("平安夜快乐", banking=True).entities == []


def test_tag_many_and_empty(tagger):
    out = tagger.tag_many(["", "信用卡年费", "你好"])
    assert [t.topics for t in out] == [[], ["收费/手续费", "信用卡", "信用卡/年费"], []]  # taxonomy order


EDITED = """
[matching]
pattern_gap = 4
[topics."柜面"]
keywords = ["柜面"]
[topics."柜面/慢"]
needs_parent = true
keywords = ["慢"]
patterns = ["等…半天"]
exclude = ["慢慢来"]
[risk.escalate]
severity = "critical"
keywords = ["上访"]
[banks."示例银行"]
aliases = ["示例行"]
"""


def test_edited_taxonomy_loaded_from_path(tmp_path):
    path = tmp_path / "taxonomy.toml"
    path.write_text(EDITED, encoding="utf-8")
    tagger = Tagger.from_file(path, bank_name="示例银行")
    assert tagger.tag("柜面太慢了").topics == ["柜面", "柜面/慢"]
    assert tagger.tag("太慢了").topics == []  # needs_parent
    assert tagger.tag("柜面慢慢来").topics == ["柜面"]  # exclusion covers the keyword
    assert tagger.tag("柜面等了半天").topics == ["柜面", "柜面/慢"]  # pattern within the gap
    assert tagger.tag("柜面等了快一个下午半天").topics == ["柜面"]  # pattern beyond the gap
    assert tagger.tag("我要去上访").risk == [{"flag": "escalate", "severity": "critical"}]
    assert tagger.tag("我要投诉").risk == []  # the shipped file is not mixed in
    ents = tagger.tag("示例行").entities
    assert ents[0]["ours"] is True and ents[0]["canonical"] == "示例银行"


@pytest.mark.parametrize(("body", "key"), [
    ('[topics."a"]\nkeywords = "x"', 'topics."a".keywords'),
    ('[topics."a"]\nkeywords = ["x", ""]', 'topics."a".keywords[1]'),
    ('[topics."a"]\nkeyword = ["x"]', 'topics."a".keyword'),
    ('[topics."a"]\n', 'topics."a".keywords'),
    ('[topics."a"]\nkeywords = ["x"]\n[risk.r]\nseverity = "high"\nkeywords = ["y"]', "risk.r.severity"),
    ('[topics."a"]\nkeywords = ["x"]\npatterns = ["x"]', 'topics."a".patterns[0]'),
    ('[topics."a/b"]\nneeds_parent = true\nkeywords = ["x"]', 'topics."a/b".needs_parent'),
    ('[topics."a"]\nkeywords = ["x"]\n[matching]\npattern_gap = "8"', "matching.pattern_gap"),
    ('[topic."a"]\nkeywords = ["x"]', "topic"),
    ('[banks."b"]\nambiguous = ["x"]\n[topics."a"]\nkeywords = ["x"]', 'banks."b".aliases'),
    ("topics = 3", "topics"),
])
def test_bad_taxonomy_names_the_key(tmp_path, body, key):
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TaxonomyError) as info:
        Tagger.from_file(path)
    assert key in str(info.value) and str(path) in str(info.value)


def test_unreadable_or_invalid_taxonomy(tmp_path):
    with pytest.raises(TaxonomyError, match="cannot read"):
        Tagger.from_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[topics\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid TOML"):
        Tagger.from_file(bad)


@pytest.mark.skipif(not (SHARED / "bank_bdci2021.jsonl").exists(), reason="shared data set absent")
def test_bank_recall_on_the_real_bank_set(tagger):
    """BANK spans of the bdci2021 `bio` tags: recall/precision floors (bench/understanding.py
    measures the exact figures)."""
    tp = fp = fn = 0
    for line in (SHARED / "bank_bdci2021.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        tags = row["bio"].split(" ")
        if len(tags) != len(row["text"]):
            continue
        gold, i = set(), 0
        while i < len(tags):
            if tags[i] == "B-BANK":
                j = i + 1
                while j < len(tags) and tags[j] == "I-BANK":
                    j += 1
                gold.add((i, j))
                i = j
            else:
                i += 1
        pred = {(e["start"], e["end"]) for e in tagger.tag(row["text"], banking=True).entities
                if e["type"] == "bank"}
        tp, fp, fn = tp + len(gold & pred), fp + len(pred - gold), fn + len(gold - pred)
    assert tp / (tp + fn) >= 0.90
    assert tp / (tp + fp) >= 0.85


# ---- card slang, a bare 卡 read by its context (taxonomy `context_keywords`) -----------------

@pytest.mark.parametrize("text", ["经典白刚批下来", "一身菜卡不想要了", "准备申个二卡", "大山白好难下",
                                  "精英白和标白选哪个", "无界卡的权益不错", "上来就给白金"])
def test_card_slang_tags_credit_card(tagger, text):
    assert "信用卡" in tagger.tag(text).topics


@pytest.mark.parametrize("text", ["这张卡用了半年才首提", "卡昨天批下来了", "那张卡的账单日是几号",
                                  "卡到手就激活了", "新卡刷了几笔小额"])
def test_bare_card_with_card_context_tags_credit_card(tagger, text):
    assert "信用卡" in tagger.tag(text).topics


@pytest.mark.parametrize(("text", "other"), [
    ("储蓄卡昨天批下来了", "账户"),
    ("工资卡办好了", "账户"),
    ("app卡顿，申请页面半天才出来", "手机银行"),
    ("手机银行一打开就卡死，申请不了", "手机银行/闪退"),
    ("公交卡刷不了", None),
    ("这个卡挺好看的", None),  # no card context near: says nothing
    ("金葵花的门槛是多少", "账户"),  # a deposit tier, not a credit card
])
def test_debit_cards_and_a_hanging_app_are_not_credit_cards(tagger, text, other):
    topics = tagger.tag(text).topics
    assert "信用卡" not in topics
    assert other is None or other in topics


def test_points_housing_fund_and_online_loans(tagger):
    assert tagger.tag("刷卡没有积分").topics == ["信用卡", "信用卡/积分"]
    assert "公积金" in tagger.tag("没有公积金能下吗").topics
    assert "贷款/房贷" in tagger.tag("网贷逾期了怎么办").topics
    assert "信用卡/积分" not in tagger.tag("人生的里程碑").topics


CONTEXT = """
[matching]
context_window = 3
[topics."卡"]
context_keywords = ["卡"]
context_words = ["额度"]
exclude = ["卡顿"]
"""


def test_context_keywords_window_and_exclude(tmp_path):
    path = tmp_path / "taxonomy.toml"
    path.write_text(CONTEXT, encoding="utf-8")
    tagger = Tagger.from_file(path)
    assert tagger.tag("卡额度").topics == ["卡"]
    assert tagger.tag("额度：卡").topics == ["卡"]  # context before the word counts too
    assert tagger.tag("卡的那个额度").topics == []  # beyond matching.context_window (3)
    assert tagger.tag("额度").topics == []  # a context word alone tags nothing
    assert tagger.tag("卡顿额度").topics == []  # exclusion covers the context keyword
    path.write_text(CONTEXT.replace('["额度"]', '["额度"]\ncontext_window = 10'), encoding="utf-8")
    assert Tagger.from_file(path).tag("卡的那个额度").topics == ["卡"]  # the topic's own window


@pytest.mark.parametrize(("body", "key"), [
    ('[topics."a"]\nkeywords = ["x"]\ncontext_words = ["y"]', 'topics."a".context_keywords'),
    ('[topics."a"]\ncontext_keywords = ["x"]', 'topics."a".context_words'),
    ('[topics."a"]\ncontext_keywords = ["x"]\ncontext_words = []', 'topics."a".context_words'),
    ('[topics."a"]\ncontext_keywords = ["x"]\ncontext_words = ["y", 3]', 'topics."a".context_words[1]'),
    ('[topics."a"]\ncontext_keywords = "x"\ncontext_words = ["y"]', 'topics."a".context_keywords'),
    ('[topics."a"]\ncontext_keywords = ["x"]\ncontext_words = ["y"]\ncontext_window = "5"',
     'topics."a".context_window'),
    ('[topics."a"]\ncontext_keywords = ["x"]\ncontext_words = ["y"]\ncontext_window = 101',
     'topics."a".context_window'),
    ('[topics."a"]\nkeywords = ["x"]\ncontext_window = 5', 'topics."a".context_keywords'),
    ('[topics."a"]\nkeywords = ["x"]\n[risk.r]\nseverity = "info"\ncontext_keywords = ["y"]',
     "risk.r.context_keywords"),
])
def test_bad_context_options_name_the_key(tmp_path, body, key):
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TaxonomyError) as info:
        Tagger.from_file(path)
    assert key in str(info.value) and str(path) in str(info.value)


@pytest.mark.skipif(not (SHARED / "bank_bdci2021.jsonl").exists(), reason="shared data set absent")
def test_topic_coverage_on_the_real_bank_dev_split(tagger):
    """Of the bank dev comments whose `bio` tags name a PRODUCT, ≥ 90 % get a topic
    (bench/topics_real.py prints the figures; the taxonomy was grown from the train split only)."""
    from nlp.training.corpora import bank_rows

    _, dev = bank_rows(SHARED)
    naming = tagged = 0
    for row in dev:
        tags = row["bio"].split(" ")
        if len(tags) != len(row["text"]) or "B-PRODUCT" not in tags:
            continue
        naming += 1
        tagged += bool(tagger.tag(row["text"]).topics)
    assert naming > 500
    assert tagged / naming >= 0.90
