"""Write the demo 问卷星 export: demo/survey/331954276_按文本_江南银行手机银行满意度调查_60_60.csv.

A made-up 江南银行 mobile-banking satisfaction survey in the 问卷星 text (按文本) layout: GBK
(like older exports and Excel re-saves), CRLF, 60 responses over the three weeks before
2026-11-28, a 1–5 满意度 column, a ┋ multi-select with a 其他〖…〗 write-in, two open questions,
a few (跳过)/(空), and an IP column of documentation-range addresses that the importer must drop.
Deterministic: the same file every run. Run: `python demo/make_survey.py`. It also writes the
branch service survey (`BRANCH_OUT`): branches, channels, an overall 1–5 rating and three
sub-ratings (网点环境, 柜员服务, 等候时间), UTF-8 with BOM as newer exports are.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent / "survey" / "331954276_按文本_江南银行手机银行满意度调查_60_60.csv"
END = datetime(2026, 11, 28, 9, 0, 0)
RESPONSES = 60
HEADER = [
    "序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP",
    "1、您的年龄段", "2、您最常使用的江南银行服务渠道",
    "3、您对江南银行手机银行的总体满意度（1-5分）",
    "4、您最近使用中遇到过哪些问题？（多选）",
    "5、您对江南银行还有什么意见或建议？",
    "6、请描述您最近一次办理业务的经历",
]
AGES = ["18-25岁", "26-35岁", "36-45岁", "46-60岁", "60岁以上"]
CHANNELS = ["手机银行APP", "微信银行", "营业网点", "电话客服", "网上银行"]
PROBLEMS = ["APP闪退", "验证码收不到", "转账失败", "页面加载慢", "网点排队久", "客服难接通", "信用卡年费争议"]
SOURCES = [("微信", "N/A"), ("手机提交", "直接访问"), ("链接", "https://www.wjx.cn/vm/example.aspx")]
# (rating range, suggestion, experience): experiences lean the same way as the suggestion.
NEGATIVE = [
    "手机银行最近老是闪退，更新到最新版本还是一样，希望尽快修复",
    "转账的时候验证码迟迟收不到，等了五分钟才到，耽误事",
    "信用卡年费说好免的结果还是扣了，打客服电话也没说清楚",
    "网点排队太久了，周六只开两个窗口，等了一个多小时",
    "人脸识别总是失败，老年人根本用不明白",
    "跨行转账提示系统繁忙，连续失败三次，钱还被冻结了一天",
    "客服电话一直转人工转不进去，体验很差",
    "APP广告弹窗太多，找个转账入口都要翻半天",
    "升级以后登录特别慢，还经常提示网络异常",
    "理财产品到期赎回到账太慢，比说明里写的晚了两天",
    "办卡的时候推销保险，说不买就不好办，很反感",
    "信用卡分期手续费没有提前讲清楚，感觉被坑了",
]
MIXED = [
    "整体还可以，就是转账限额设置的地方不好找",
    "功能挺全的，但是界面有点乱，希望简化一下",
    "网点服务态度不错，不过等待时间有点长",
    "验证码偶尔延迟，其他方面还行",
    "希望增加夜间也能办理的业务，比如挂失补卡",
    "信用卡积分兑换的商品太少，可以多一些选择",
    "APP速度一般，高峰期会卡一下",
    "希望电子回单能直接下载PDF，现在只能截图",
    "指纹登录有时候失灵，需要输密码",
    "利率和别的银行差不多，没有特别的优势",
    "大堂经理挺热情，但是填的单子太多了",
    "建议在小区附近多放几台自助取款机",
]
POSITIVE = [
    "手机银行转账很快，到账及时，用着挺顺手",
    "客服小姐姐很耐心，帮我把问题一次解决了",
    "新版APP界面清爽多了，查账单很方便",
    "网点预约取号很好用，到了基本不用等",
    "信用卡还款提醒很及时，从来没逾期过",
    "扫码付款很方便，优惠活动也不少",
    "理财频道的产品说明写得很清楚，赞一个",
    "上次手机丢了，打电话挂失很快就办好了",
    "整体体验很好，会推荐给家里人用",
    "柜员业务很熟练，几分钟就办完了",
]
EXPERIENCES = {
    "neg": ["在APP上转账，输完验证码提示超时，重试了好几次", "去网点办销户，排了一个半小时队",
            "给客服打电话问年费，转了三次人工才接通", "更新APP后打不开，只能卸载重装",
            "办信用卡分期，账单出来才发现手续费比想象的高"],
    "mix": ["在网点开通手机银行，流程有点长但工作人员很耐心", "线上申请了信用卡，审批还算快，寄卡慢了几天",
            "用APP买了理财，操作不难，就是风险测评题目太多", "去柜台打印流水，排队二十分钟左右"],
    "pos": ["用手机银行交了水电费，一分钟搞定", "在APP上预约了取现，到网点直接取走了",
            "客服帮我修改了预留手机号，全程很顺利", "开通了工资卡的自动理财，收益看得很清楚"],
}


def build_rows(rng: random.Random) -> list[list[str]]:
    start = END - timedelta(days=21)
    times = sorted(start + timedelta(seconds=rng.randrange(21 * 86400)) for _ in range(RESPONSES))
    pools = {"neg": list(NEGATIVE), "mix": list(MIXED), "pos": list(POSITIVE)}
    for pool in pools.values():
        rng.shuffle(pool)
    rows = []
    for n, when in enumerate(times, start=1):
        mood = rng.choices(["neg", "mix", "pos"], weights=[3, 4, 3])[0]
        rating = {"neg": rng.choice([1, 2, 2]), "mix": 3, "pos": rng.choice([4, 5, 5])}[mood]
        source, detail = rng.choice(SOURCES)
        rows.append([
            str(n), f"{when.year}/{when.month}/{when.day} {when:%H:%M:%S}", f"{rng.randint(45, 400)}秒",
            source, detail, f"{fake_ip(rng)}(江苏-{rng.choice(['南京', '苏州', '无锡', '常州'])})",
            rng.choice(AGES), rng.choice(CHANNELS), str(rating),
            problems(rng, mood), suggestion(rng, pools, mood, n), experience(rng, mood, n),
        ])
    return rows


def fake_ip(rng: random.Random) -> str:
    """Addresses from the RFC 5737 documentation ranges: clearly fake, still IP-shaped."""
    return f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randint(1, 254)}"


def problems(rng: random.Random, mood: str) -> str:
    if mood == "pos" and rng.random() < 0.6:
        return "(跳过)" if rng.random() < 0.3 else "没有遇到问题"
    picked = rng.sample(PROBLEMS, k=rng.randint(1, 3))
    if rng.random() < 0.15:
        picked.append(rng.choice(["其他〖指纹登录经常失灵〗", "其他〖账单页面字太小看不清〗"]))
    return "┋".join(picked)


def suggestion(rng: random.Random, pools: dict[str, list[str]], mood: str, n: int) -> str:
    if n in (17, 44):
        return "(空)"
    pool = pools[mood]
    text = pool[n % len(pool)]
    # Repeats are reworded slightly, as real respondents rarely write the exact same sentence.
    return text if n <= len(pool) * 2 else text + rng.choice(["。", "，谢谢", "！", "，辛苦了"])


def experience(rng: random.Random, mood: str, n: int) -> str:
    if n % 7 == 0:
        return "(跳过)"
    if rng.random() < 0.1:
        return "无"
    return rng.choice(EXPERIENCES[mood])


def _write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str) -> Path:
    """An export as 问卷星 writes it: CRLF lines, in `encoding`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write(path: Path = OUT) -> Path:
    return _write_csv(path, HEADER, build_rows(random.Random(331954276)), "gbk")


# A second export: the branch service survey (网点服务满意度), with branches, channels, an overall
# rating and three sub-ratings, so `voc csat` has segments and a key-driver analysis to show.
BRANCH_OUT = OUT.parent / "418220517_按文本_江南银行网点服务满意度调查_240_240.csv"
BRANCH_RESPONSES = 240
BRANCH_HEADER = [
    "序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP",
    "1、您办理业务的网点", "2、您本次办理业务的渠道", "3、您对本次服务的总体满意度（1-5分）",
    "4、网点环境满意度（1-5分）", "5、柜员服务满意度（1-5分）", "6、等候时间满意度（1-5分）",
    "7、您对我们的服务还有什么意见或建议？",
]
BRANCHES = ["西湖支行", "观前街支行", "新区支行", "滨江支行", "鼓楼支行", "江北支行"]
BRANCH_CHANNELS = ["营业网点柜台", "智能柜员机", "大堂经理"]
# how long each branch makes people wait (1 = long): the driver the analysis should find
WAIT = {"西湖支行": 4, "观前街支行": 2, "新区支行": 4, "滨江支行": 3, "鼓楼支行": 2, "江北支行": 4}
WAIT_TEXT = ["排队等了一个多小时，只开两个窗口", "等候时间太长了，叫号很慢", "周末排队太久，希望多开窗口"]
STAFF_TEXT = ["柜员很耐心，业务办得很快", "大堂经理主动引导，服务很好", "工作人员态度很好，解释得很清楚"]
PLAIN_TEXT = ["环境干净整洁，座位也够", "整体还可以", "希望停车方便一点", "自助设备有点旧，偶尔卡顿"]


def _clamp(value: float) -> int:
    return max(1, min(5, round(value)))


def build_branch_rows(rng: random.Random) -> list[list[str]]:
    start = END - timedelta(days=56)
    times = sorted(start + timedelta(seconds=rng.randrange(56 * 86400)) for _ in range(BRANCH_RESPONSES))
    rows = []
    for n, when in enumerate(times, start=1):
        branch = rng.choice(BRANCHES)
        wait = _clamp(WAIT[branch] + rng.gauss(0, 0.8))
        staff = _clamp(4 + rng.gauss(0, 0.9))
        room = _clamp(4 + rng.gauss(0, 0.7))
        overall = _clamp(0.6 * wait + 0.3 * staff + 0.1 * room + rng.gauss(0, 0.5))
        if wait <= 2 and rng.random() < 0.7:
            text = rng.choice(WAIT_TEXT)
        elif staff >= 5 and rng.random() < 0.5:
            text = rng.choice(STAFF_TEXT)
        else:
            text = rng.choice(PLAIN_TEXT) if rng.random() < 0.8 else "(跳过)"
        if text != "(跳过)":  # respondents say where, in their own words
            text = rng.choice([f"在{branch}办业务，", f"{branch}：", "这次去办事，"]) + text
        source, detail = rng.choice(SOURCES)
        rows.append([
            str(n), f"{when.year}/{when.month}/{when.day} {when:%H:%M:%S}", f"{rng.randint(45, 400)}秒",
            source, detail, f"{fake_ip(rng)}(江苏-{rng.choice(['南京', '苏州', '无锡', '常州'])})",
            branch, rng.choice(BRANCH_CHANNELS), str(overall), str(room), str(staff), str(wait), text,
        ])
    return rows


def write_branch(path: Path = BRANCH_OUT) -> Path:
    return _write_csv(path, BRANCH_HEADER, build_branch_rows(random.Random(418220517)), "utf-8-sig")


def main() -> None:
    print(f"wrote {write()} ({RESPONSES} responses)")
    print(f"wrote {write_branch()} ({BRANCH_RESPONSES} responses)")


if __name__ == "__main__":
    main()
