"""Generate demo/posts.jsonl: synthetic crawled posts, reviews and complaints about 江南银行.

Deterministic (seeded): running it twice writes the same file. Timestamps are relative to the
fixed `END` below; `voc demo` shifts every record so the incident ends at the moment the demo runs.

The data: ~3 weeks of everyday customer voice across four sources (appstore reviews, weibo posts,
tousu complaints, an RSS news feed), mostly neutral, some praise, some complaints, about 江南银行
and its competitors; then, in the last six hours, a 手机银行 incident (转账失败 / 闪退 / 登录不上)
that ramps up, with near-duplicate copies of one angry post being reposted.

    python demo/make_posts.py            # rewrites demo/posts.jsonl
    python demo/make_posts.py -n 10000 -o /tmp/posts.jsonl

`generate_posts()` is reused by bench/pipeline.py for its synthetic load.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
END = datetime(2025, 6, 20, 21, 0, tzinfo=TZ)
DAYS = 21
SEED = 20250620
OUT = Path(__file__).resolve().parent / "posts.jsonl"

OURS = ["江南银行", "江南银行", "江南银行", "江南行"]
OTHERS = ["工商银行", "招商银行", "建设银行", "平安银行", "农业银行", "中国银行"]
CITIES = ["杭州", "苏州", "无锡", "上海", "南京", "宁波", "常州"]
BRANCHES = ["西湖支行", "观前街支行", "新区支行", "滨江支行", "鼓楼支行", "江北支行"]
PRODUCTS = ["信用卡", "房贷", "消费贷", "定期存款", "理财产品", "大额存单", "借记卡"]
WEALTH = ["定期存款", "理财产品", "大额存单", "基金定投", "养老理财"]
LOANS = ["房贷", "消费贷", "经营贷", "车贷", "信用卡分期"]
AUTHORS = ["小鱼", "阿杰", "理财小白", "江南打工人", "吃瓜群众", "Momo"]
AMOUNTS = ["200", "500", "1000", "3000", "5000", "2万", "5万"]

# Everyday posts: a situation and a reaction, drawn independently, so two posts rarely share more
# than half their words (the near-duplicate stage would rightly fold template copies together).
SITUATIONS = {
    "neutral": ["{bank}的{loan}现在利率是多少", "{bank}{city}{branch}周六上午营业吗",
        "{bank}手机银行怎么修改预留手机号", "{bank}信用卡账单日可以改吗",
        "{bank}的{loan}提前还款要不要手续费", "{city}哪个{bank}网点可以办外币兑换",
        "{bank}客服电话是多少", "{bank}手机银行转账到{other}要多久到账", "{bank}信用卡积分可以换什么",
        "{bank}的{wealth}起购金额是多少", "{bank}APP里的账单怎么导出", "在{bank}开户需要带什么材料",
        "{bank}的{wealth}和{other}比哪个划算", "{bank}信用卡境外消费有没有手续费",
        "{bank}借记卡年费怎么收", "{bank}{branch}能办社保卡吗", "{bank}的{wealth}到期后会自动转存吗",
        "{bank}信用卡怎么申请提额"],
    "positive": ["{bank}{branch}的工作人员帮我办了{product}", "{bank}手机银行转账秒到",
        "{bank}的{loan}两天就批下来了", "给{bank}客服打电话，问题一次就解决了",
        "{bank}信用卡积分换了个电饭煲", "在{bank}买的{wealth}收益还不错", "{bank}新版APP查账单方便多了",
        "{city}{bank}网点有老人专窗", "{bank}{loan}利率比{other}低一点",
        "{bank}{branch}的大堂经理帮我找回了密码", "{bank}手机银行指纹登录很方便",
        "{bank}客户经理把{product}讲得很清楚"],
    "negative": ["{bank}{branch}排队两个小时只开了一个窗口", "{bank}信用卡莫名其妙扣了{amount}年费",
        "{bank}的{loan}审批拖了一个月", "{bank}客服问个问题就说不清楚",
        "{bank}手机银行每次更新都要重新验证", "{bank}催收电话打到我家人那里去了",
        "{bank}{loan}提前还款被收了违约金", "{bank}理财经理推荐的{wealth}亏了{amount}",
        "{bank}信用卡额度突然被降了", "{bank}网点取{amount}现金还要预约", "{bank}APP查个余额要转半天圈",
        "{bank}的{wealth}宣传的利率和实际不一样"],
}
REACTIONS = {
    "neutral": ["有没有最近办过的朋友说一下", "找了半天没找到入口", "想下周去办一下",
        "收到短信说有新活动", "还在考虑", "网上说法不一样", "家里老人要用", "需要提前预约吗",
        "客服说要等通知", "下个月要用", "准备对比几家再定", "看公众号没写清楚"],
    "positive": ["态度特别好", "比{other}的好用", "体验不错", "服务很专业", "挺实在的", "很安心",
        "好评", "很贴心", "果断选了{bank}", "非常耐心", "出门不用带卡了", "效率很高", "值得推荐"],
    "negative": ["太让人无语了", "打客服半天没人接", "问就是在走流程", "直接挂电话", "烦死了",
        "这合法吗", "办的时候根本没说", "要求退款", "没有任何通知", "服务越来越差", "感觉被骗了",
        "非常不满意", "已经向银保监投诉"],
}
NEWS = [
    ("{bank}发布2025年一季度经营数据",
     "{bank}一季度营业收入同比增长，零售业务占比继续提升，{product}余额稳步增长。"),
    ("{bank}{city}分行开展金融知识进社区活动",
     "{bank}{city}分行近日走进社区，向居民普及防范电信诈骗知识。"),
    ("{other}与{bank}等多家银行下调{product}利率",
     "多家银行近期调整{product}利率，业内人士认为这是市场化调整的正常现象。"),
    ("{bank}手机银行上线适老化版本",
     "{bank}手机银行推出大字版，方便老年客户使用转账、查询等常用功能。"),
    ("{bank}获评年度最佳零售银行",
     "在近日举行的评选活动中，{bank}凭借{product}等业务的创新获得认可。"),
    ("{bank}{city}分行举办小微企业融资对接会",
     "{city}百余家小微企业参加，{bank}现场介绍了{loan}的申请条件。"),
    ("{other}信用卡新规下月实施",
     "{other}调整信用卡积分规则，{bank}等多家银行表示暂无调整计划。"),
    ("{bank}提醒：警惕冒充客服的诈骗电话",
     "{bank}表示不会以任何理由索要验证码，请客户通过官方渠道办理业务。"),
    ("{city}多家银行网点延长营业时间",
     "包括{bank}{branch}在内的多家网点周末照常营业，方便市民办理{product}业务。"),
    ("{bank}养老金融服务升级",
     "{bank}推出{wealth}等养老金融产品，并在{city}试点上门服务。"),
]
# Incident posts are put together from parts, so they are many different posts (the alert counts
# near-duplicate clusters once) that all say the same thing.
INCIDENT_OPEN = ["今晚", "刚才", "从八点多开始", "下班路上", "在超市结账的时候", "给房东交房租时", "半夜",
                 "急着还信用卡，", "帮爸妈转钱，", "{city}这边"]
INCIDENT_PROBLEM = [
    "{bank}手机银行转账失败，提示系统繁忙",
    "{bank}APP一打开就闪退",
    "{bank}手机银行登录不上，一直转圈",
    "{bank}转账显示失败但是余额少了{amount}",
    "{bank}手机银行付款失败，连试了五次",
    "{bank}APP闪退好几次了，重装也没用",
    "{bank}手机银行收不到验证码，转账卡在最后一步",
    "用{bank}手机银行给朋友转{amount}，显示交易异常",
]
INCIDENT_TAIL = [
    "，客服电话根本打不进去！", "，钱扣了对方没收到，谁来给个说法", "，太耽误事了", "，什么情况？？",
    "，在店里好尴尬", "，客服排队排到三百多位，无语", "，这是崩了吧", "，急死了",
    "，再这样就销户了", "，已经投诉到银保监", "，有没有人一样的", "，心态崩了",
]
ANGRY_POST = ("{bank}手机银行今晚彻底崩了！转账失败三次，钱被扣了对方没收到，客服电话打了一个小时"
              "打不进去，这么大的银行连个APP都维护不好，必须给个说法！")
REPOST_TAILS = ["", "", "！", " 转发", " 同样遇到了", "，+1", " 顶上去", "！！！", " 求关注"]

# Openers, asides and closers make the everyday posts as varied as real ones (templates alone
# would repeat word for word, and the near-duplicate stage would rightly fold them together).
OPENERS = {
    "neutral": ["", "", "", "请教一下，", "问一下，", "有没有懂的，", "记录一下：", "周末", "今天", "刚刚",
                "想了解下，", "家里人让我问问，", "同事问我，", "小白求问，"],
    "positive": ["", "", "", "必须夸一下，", "今天", "说实话，", "没想到", "上周", "真心觉得", "分享一下："],
    "negative": ["", "", "", "吐槽一下，", "真的服了，", "今天", "上周", "气死了，", "说实话，",
                 "又是这样，"],
}
ASIDES = ["", "", "", "", "（{city}这边）", "（{d}号的事）", "，第{k}次了", "，{k}点多的时候",
          "，我妈也遇到过", "，朋友也说", "，已经{k}天了", "（{k}年老客户）"]
CLOSERS = {
    "neutral": ["", "", "。", "？", "，谢谢", "，在线等", "，求解答", "，先记下了", "。[思考]",
                "，有知道的吗", "，麻烦大家了", "～"],
    "positive": ["", "！", "，推荐", "，给五星", "，以后就用它了", " 👍", "[赞]", "，继续保持", "，开心",
                 "，值得表扬"],
    "negative": ["", "！", "，差评", "，无语", "，希望改进", "，真的很失望", "[怒]", "，还会再投诉",
                 "，考虑换银行了", "，请给个解释"],
}

# (source, kind, share of the baseline)
SOURCES = [("weibo", "post", 0.48), ("appstore", "review", 0.27), ("tousu", "complaint", 0.16),
           ("rss:jrj", "news", 0.09)]


def _fill(rng: random.Random, template: str, ours: bool) -> str:
    return template.format(
        bank=rng.choice(OURS) if ours else rng.choice(OTHERS), other=rng.choice(OTHERS),
        city=rng.choice(CITIES), branch=rng.choice(BRANCHES), product=rng.choice(PRODUCTS),
        wealth=rng.choice(WEALTH), loan=rng.choice(LOANS),
        amount=rng.choice(AMOUNTS), d=rng.randint(1, 28), k=rng.randint(2, 9),
    )


def _everyday(rng: random.Random, label: str, ours: bool) -> str:
    situation, reaction = rng.choice(SITUATIONS[label]), rng.choice(REACTIONS[label])
    body = f"{situation}，{reaction}" if rng.random() < 0.75 else f"{reaction}，{situation}"
    template = rng.choice(OPENERS[label]) + body + rng.choice(ASIDES) + rng.choice(CLOSERS[label])
    return _fill(rng, template, ours)


def _decorate(rng: random.Random, source: str, text: str, label: str) -> str:
    """Some weibo posts carry the markup the real site returns (emoji images, topic links), so the
    pipeline's normalize stage has something to do."""
    if source == "weibo" and rng.random() < 0.15:
        alt, icon = {"negative": ("[怒]", "d_nu"), "positive": ("[赞]", "d_zan"),
                     "neutral": ("[思考]", "d_sikao")}[label]
        text += (f' <span class="url-icon"><img alt="{alt}" '
                 f'src="//h5.sinaimg.cn/m/emoticon/icon/default/{icon}.png"></span>')
    elif source == "weibo" and rng.random() < 0.1:
        text += ' <a href="https://m.weibo.cn/search?containerid=231522">#银行#</a>'
    return text


def _post(rng: random.Random, n: int, source: str, kind: str, when: datetime, text: str,
          label: str, title: str | None = None) -> dict:
    post: dict = {"source": source, "kind": kind, "created_at": when.replace(microsecond=0).isoformat(),
                  "text": _decorate(rng, source, text, label)}
    if source == "appstore":
        post["rating"] = {"negative": rng.choice([1, 1, 2]), "neutral": 3,
                          "positive": rng.choice([4, 5, 5])}[label]
        post["url"] = f"https://apps.apple.com/cn/app/id1453000000?review={700000 + n}"
        post["author"] = f"用户{rng.randint(1000, 99999)}"
        post["title"] = {"negative": "体验很差", "neutral": "一般", "positive": "好用"}[label]
    elif source == "weibo":
        post["url"] = f"https://m.weibo.cn/detail/{5100000000000000 + n}"
        post["author"] = rng.choice(AUTHORS) + str(n % 97)
        post["meta"] = {"reposts": rng.randint(0, 30), "likes": rng.randint(0, 200)}
    elif source == "tousu":
        post["url"] = f"https://tousu.sina.com.cn/complaint/view/{17300000000 + n}/"
        post["title"] = text[:18]
        post["meta"] = {"status": rng.choice(["处理中", "已回复", "已完成"])}
    else:
        post["url"] = f"https://finance.jrj.example/news/{20250000 + n}.shtml"
        post["title"] = title
        post["author"] = "金融界"
    return post


def generate_posts(n: int = 2000, *, seed: int = SEED, end: datetime = END,
                   incident: bool = True) -> list[dict]:
    """`n` posts (about 8 % of them the incident when `incident`), sorted by time, dicts in the
    records-importer JSONL shape."""
    rng = random.Random(seed)
    n_incident = round(n * 0.08) if incident else 0
    posts: list[dict] = []
    start = end - timedelta(days=DAYS)
    weights = [share for _, _, share in SOURCES]
    for i in range(n - n_incident):
        source, kind, _ = rng.choices(SOURCES, weights)[0]
        # Daytime-heavy, and nothing in the incident's six hours beyond the usual rate.
        when = start + timedelta(seconds=rng.uniform(0, (DAYS * 24 - 6) * 3600))
        if when.hour < 7 and rng.random() < 0.7:
            when += timedelta(hours=9)
        ours = rng.random() < 0.7
        if kind == "news":
            title, body = rng.choice(NEWS)
            posts.append(_post(rng, i, source, kind, when, _fill(rng, body, ours), "neutral",
                               _fill(rng, title, ours)))
            continue
        if kind == "complaint":
            label = "negative" if rng.random() < 0.75 else "neutral"
        else:
            label = rng.choices(["neutral", "positive", "negative"], [0.55, 0.27, 0.18])[0]
        posts.append(_post(rng, i, source, kind, when, _everyday(rng, label, ours), label))
    angry = ANGRY_POST.format(bank="江南银行")
    for j in range(n_incident):
        i = n - n_incident + j
        # Ramps up: most of it in the last two hours.
        minutes_before = 360 * rng.random() ** 2.5
        when = end - timedelta(minutes=minutes_before + 1)
        source, kind = rng.choice([("weibo", "post"), ("weibo", "post"), ("appstore", "review"),
                                   ("tousu", "complaint")])
        if source == "weibo" and j % 6 == 0:
            text = angry + rng.choice(REPOST_TAILS)
        else:
            parts = rng.choice(INCIDENT_OPEN) + rng.choice(INCIDENT_PROBLEM) + rng.choice(INCIDENT_TAIL)
            text = _fill(rng, parts, True)
            if rng.random() < 0.3:
                text = "#江南银行手机银行崩了# " + text
        posts.append(_post(rng, i, source, kind, when, text, "negative"))
    posts.sort(key=lambda p: p["created_at"])
    return posts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="number of posts (default 2000)")
    parser.add_argument("-o", "--output", type=Path, default=OUT, help=f"output JSONL (default {OUT})")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    posts = generate_posts(args.n, seed=args.seed)
    with args.output.open("w", encoding="utf-8") as fh:
        for post in posts:
            fh.write(json.dumps(post, ensure_ascii=False) + "\n")
    print(f"wrote {len(posts)} posts to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
