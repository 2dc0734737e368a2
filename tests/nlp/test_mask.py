"""`nlp.mask.mask_pii`: phone, resident ID and bank-card numbers masked, same length, and the
numbers a complaint is full of (amounts, dates, limits, short order numbers) left alone."""

from __future__ import annotations

import pytest

from nlp.mask import mask_pii


@pytest.mark.parametrize(("text", "masked"), [
    ("电话13812345678联系我", "电话138****5678联系我"),
    ("+86 13912345678", "+86 139****5678"),
    ("身份证110101199003071234", "身份证110101********1234"),
    ("号码11010119900307123X。", "号码110101********123X。"),
    ("卡号6222020200112233445被盗刷", "卡号6222***********3445被盗刷"),
    ("卡号 6222-0202-0011-2233", "卡号 6222-****-****-2233"),
])
def test_personal_numbers_are_masked_keeping_the_length(text, masked):
    assert mask_pii(text) == masked and len(mask_pii(text)) == len(text)


@pytest.mark.parametrize("text", [
    "额度19000，年费300元", "2026-12-02 10:05 转账5000.00元失败", "投诉编号17000123456789",
    "工号123456789012", "没有数字的吐槽", "",
])
def test_ordinary_numbers_are_left_alone(text):
    assert mask_pii(text) == text
