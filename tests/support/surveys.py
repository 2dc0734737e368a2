"""Made-up survey rows in each platform's shape, shared by the importer tests.

The rows are written here (never copied from real exports); the IPs are RFC 5737 documentation
addresses, so a leak check can search for them in everything a record holds.
"""

from __future__ import annotations

import csv
import io

SALT = "test-salt"
FAKE_IPS = ("192.0.2.11", "198.51.100.22", "203.0.113.33")

WJX_TEXT_HEADER = ["序号", "提交答卷时间", "所用时间", "来源", "来源详情", "来自IP",
                   "1、您的性别", "2、您对手机银行的满意度", "3、您常用哪些功能？",
                   "4、您对我行有什么建议？"]
WJX_TEXT_ROWS = [
    ["1", "2026/11/20 9:05:10", "65秒", "微信", "N/A", f"{FAKE_IPS[0]}(江苏-南京)", "男", "4",
     "转账┋理财", "手机银行转账很方便，到账很快"],
    ["2", "2026/11/20 10:15:00", "80秒", "链接", "https://example.invalid/s", f"{FAKE_IPS[1]}(上海-上海)",
     "女", "1", "转账┋其他〖信用卡还款〗", "APP更新后一直闪退，验证码也收不到"],
    ["3", "2026/11/21 18:30:45", "120秒", "微信", "N/A", f"{FAKE_IPS[2]}(江苏-苏州)", "女", "3",
     "(跳过)", "(空)"],
    ["4", "2026/11/22 8:00:00", "45秒", "手机提交", "直接访问", "192.0.2.44(北京-北京)", "男", "5",
     "理财", "网点排队时间太长了，希望多开几个窗口"],
    ["5", "2026/11/22 20:12:03", "33秒", "微信", "N/A", "192.0.2.55(江苏-无锡)", "男", "2",
     "转账┋缴费┋理财", "信用卡年费扣得莫名其妙，客服解释不清"],
    ["6", "2026/11/23 12:00:00", "51秒", "微信", "N/A", "192.0.2.66(江苏-无锡)", "女", "4",
     "缴费", "无"],
]


def csv_bytes(header: list[str], rows: list[list[str]], encoding: str = "utf-8",
              newline: str = "\r\n", delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


