"""Personal data in comment text, masked: mobile phone numbers, resident ID numbers, bank cards.

    mask_pii("我的卡号6222020200112233445，电话13812345678")
    # '我的卡号6222***********3445，电话138****5678'

Masks keep the text's length (each hidden digit becomes `*`), so entity offsets computed on the
original still point at the same characters. What it finds, as a run of digits not touching other
digits (spaces or dashes inside a card number allowed):

- a mainland mobile number: 11 digits starting 13–19, optionally after +86 / 86;
- a resident ID: 17 digits and a check digit or X (18 characters), shown as its first 6 (the
  region) and last 4;
- a bank card: 16–19 digits, shown as its first 4 and last 4.

Amounts, dates, order and complaint numbers of other lengths are left alone. Names are not found
by a pattern and are not masked here (survey importers drop name columns).
"""

from __future__ import annotations

import re

_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3})([\dXx])(?![0-9A-Za-z])")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){15,18}(?![\d-])")
_PHONE = re.compile(r"(?<!\d)((?:\+?86[ -]?)?1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def _keep_ends(run: str, head: int, tail: int) -> str:
    """`run` with every digit but its first `head` and last `tail` digits as `*` (separators kept)."""
    total = sum(c.isdigit() for c in run)
    out, seen = [], 0
    for c in run:
        if c.isdigit():
            seen += 1
            out.append(c if seen <= head or seen > total - tail else "*")
        else:
            out.append(c)
    return "".join(out)


def mask_pii(text: str) -> str:
    """`text` with phone, ID and bank-card numbers masked (same length)."""
    if not text or not any(c.isdigit() for c in text):
        return text
    text = _ID.sub(lambda m: m.group(1) + "*" * 8 + m.group(3) + m.group(4), text)
    text = _CARD.sub(lambda m: _keep_ends(m.group(0), 4, 4), text)
    return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(3), text)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_CODE = re.compile(r"[A-Za-z]{0,4}[-_]?\d{6,}")  # 客户号 C00012345, 会员号, QQ numbers
# The commonest Chinese surnames (over 85 % of the population): a 2–4 character answer that starts
# with one of these, or ends in 先生/女士, reads as a name.
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武"
    "戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮"
    "柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古"
    "吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫"
    "寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
_NAME = re.compile(r"[\u4e00-\u9fff]{2,4}|[\u4e00-\u9fff]{1,3}(先生|女士|小姐)")
_TITLES = ("先生", "女士", "小姐")
# ... but not a branch, product or place that happens to start with one (张江支行, 金卡, 高新区)
_PLACES = tuple("行点厅区市县路街镇村卡贷款户")


def personal_kind(value: str) -> str | None:
    """What personal datum a whole answer is, or None: "phone", "id", "card", "email", "code" (a
    customer, member or QQ number) or "name". Judges one survey cell, not free text: a comment
    that contains a phone number is masked by `mask_pii`, not dropped."""
    value = value.strip()
    if not value:
        return None
    digits = re.sub(r"[ -]", "", value)
    if _PHONE.fullmatch(digits):
        return "phone"
    if _ID.fullmatch(digits):
        return "id"
    if digits.isdigit() and 16 <= len(digits) <= 19:
        return "card"
    if _EMAIL.fullmatch(value):
        return "email"
    if _CODE.fullmatch(value):
        return "code"
    if (_NAME.fullmatch(value) and (value[0] in _SURNAMES or value.endswith(_TITLES))
            and not value.endswith(_PLACES)):
        return "name"
    return None
