"""`web_attack` rules: attack payloads in HTTP requests (T1190) and web shell access (T1505.003).

Normalization (`normalize`) runs before matching, because attackers encode to slip past
signatures: percent-decoding repeated up to 3 times (double/triple encoding), `+` as space,
`%uXXXX` escapes, HTML entities, lower case, whitespace collapsed; for SQL the inline comments
`/**/` become spaces ("UN/**/ION" tricks); Log4Shell lookups such as `${lower:j}`, `${::-n}`
and `${env:X:-d}` are resolved to their literal letter, repeatedly, so nested obfuscation
reduces to `${jndi:`.

Matching: one RE2 `Set` per input kind (request line; headers) holds every pattern of the
families a rule enables; one pass over the text finds all that match, in linear time. Patterns
are written for precision: each needs a syntactic marker of an attack (a quote followed by a
boolean operator and comparison, `union select`, an event handler inside a tag, ...) rather than
a keyword alone, so searches such as "O'Brien", "select committee" or "专利 and 商标" stay quiet.
The benign corpus test (tests/detectors/test_web_attack.py) holds the false-alert budget.

Fields read: url.original (else url.path + url.query), http.request.body.content,
user_agent.original and http.request.referrer (headers: shellshock, JNDI, SQL injection).
"""
from __future__ import annotations

import html
from functools import lru_cache
from typing import Literal
from urllib.parse import unquote

import re2
from pydantic import Field

from detectors.findings import Evidence
from detectors.rules import RuleType
from detectors.threshold import ThresholdDetector, ThresholdRule

Family = Literal["sqli", "xss", "traversal", "rfi", "cmdi", "shellshock", "jndi", "webshell"]
MAX_TEXT_CHARS = 8_192  # longer inputs are cut: bounded work per request
HEADER_CACHE_MAX = 4_096
# Every web_attack rule normalizes the same request in turn, and common paths repeat: the
# newest texts are kept normalized (a pure function of the text, so a cache is safe).
NORMALIZED_CACHE_MAX = 1_024

PATTERNS: dict[str, list[str]] = {
    "sqli": [
        r"\bunion\b[\s(]+(?:all\s+|distinct\s+)?select\b",
        r"\bselect\b.{1,100}\bfrom\b.{1,100}\b(?:information_schema|mysql\.user|pg_catalog|"
        r"sysobjects|sys\.tables|all_tables)\b",
        r"'\s*\)?\s*(?:or|and|\|\||&&)\s+\(?\s*['\"]?[\w]*['\"]?\s*(?:=|<>|!=|<|>|\blike\b)\s*"
        r"['\"]?\w*",
        r"\b(?:or|and)\s+(\d+)\s*=\s*\d+\s*(?:--|#|/\*|;|\)|$)",
        r"\b(?:sleep|benchmark|pg_sleep)\s*\(\s*\d",
        r"\bwaitfor\s+delay\s+'",
        r";\s*(?:drop\s+(?:table|database)|shutdown\b|exec(?:ute)?\s+(?:xp_|sp_))",
        r"\b(?:extractvalue|updatexml)\s*\(",
        r"\bload_file\s*\(|\binto\s+(?:out|dump)file\b",
        r"@@(?:version|datadir|hostname)\b",
        r"\bchar\s*\(\s*\d+\s*(?:,\s*\d+\s*){2,}\)",
        r"'\s*(?:--|#)",
        r"\border\s+by\s+\d+\s*(?:--|#)",
    ],
    "xss": [
        r"<\s*/?\s*script\b",
        r"\b(?:javascript|vbscript|livescript)\s*:",
        r"<[^>]*[\s/\"']on[a-z]{3,20}\s*=",
        r"<\s*(?:iframe|svg|object|embed|math|base|meta|link)\b",
        r"\bdocument\s*\.\s*(?:cookie|domain|write|location)\b",
        r"\b(?:alert|prompt|confirm)\s*(?:\(|\x60)",
        r"\bsrcdoc\s*=|\bexpression\s*\(",
    ],
    "traversal": [
        r"(?:\.\.[/\\]){2,}",
        r"(?:\.\.[/\\])+(?:etc|proc|windows|winnt|boot|usr|var|root|home)\b",
        r"/etc/(?:passwd|shadow|group|hosts|issue)\b",
        r"\b(?:c:|%systemroot%)[\\/]+(?:windows|winnt)\b|\bwin\.ini\b|\bboot\.ini\b",
        r"/proc/self/(?:environ|cmdline|fd|maps)",
        r"\b(?:php|file|phar|expect|zip|glob|data)://",
        r"\x00",
    ],
    "rfi": [
        r"=\s*(?:https?|ftp)://[^&\s]+\?+(?:&|\s|$)",
        r"=\s*(?:https?|ftp)://\d{1,3}(?:\.\d{1,3}){3}[^&\s]*\.(?:txt|php|sh|pl|py)\b",
        r"=\s*(?:https?|ftp)://[^&\s]*(?:c99|r57|shell|cmd)\.(?:txt|php)",
    ],
    "cmdi": [
        r"[;|&\x60]\s*(?:cat|head|tail|more|less|ls)\s+(?:-\w+\s+)*/",
        r"[;|&\x60]\s*(?:wget|curl)\s+(?:-\S+\s+)*(?:https?|ftp)://",
        r"[;|&\x60]\s*(?:nc|ncat|netcat)\s+(?:-\w+\s+)*[\w.]+\s+\d+",
        r"[;|&\x60]\s*(?:bash|sh|zsh|dash)\s+-[ci]\b",
        r"[;|&\x60]\s*(?:id|whoami|uname\s+-a|ifconfig|ipconfig|hostname)\s*(?:$|[;|&\x60#])",
        r"\$\(\s*(?:cat|id|whoami|wget|curl|uname|sleep|echo|nslookup|ping)\b",
        r"\x60\s*(?:id|whoami|uname|cat|wget|curl|sleep|nslookup|ping)\b[^\x60]*\x60",
        r"\|\s*(?:id|whoami|uname|ping\s+-[cn])\b",
        r"/bin/(?:ba|z|da)?sh\b|\bcmd(?:\.exe)?\s+/c\b|\bpowershell(?:\.exe)?\s+-(?:enc|e|nop|w|c)\b",
        r"\bnc\s+-e\s",
    ],
    "shellshock": [
        r"\(\s*\)\s*\{[^}]{0,60}\}\s*;",
    ],
    "jndi": [
        r"\$\{\s*jndi\s*:",
        r"\$\{[^}]{0,40}:(?:ldaps?|rmi|dns|iiop|corba|nds|nis)://",
    ],
    "webshell": [
        r"/(?:c99|c100|r57|wso\d*|b374k|webshell|shell|cmd|phpspy|chopper|caidao|behinder|"
        r"godzilla|antsword|alfa|indoxploit|dama|xiaoma|spy)\.(?:php\d?|phtml|phar|asp|aspx|"
        r"ashx|jsp|jspx|cer|asa)\b",
        r"/(?:upload|uploads|uploadfile|uploadfiles|attachments?|userfiles|images?|img|media|"
        r"files|tmp|temp|static)/[^?\s]*\.(?:php\d?|phtml|phar|jsp|jspx|asp|aspx|ashx|asmx|"
        r"cer|asa|cgi|pl)(?:$|[?;/\s])",
        r"\.(?:php\d?|jsp|jspx|aspx?|ashx)\?(?:cmd|exec|command|shell|pass)=",
    ],
}
# Families that also look at headers (User-Agent, Referer): where attackers put those payloads.
HEADER_FAMILIES = ("shellshock", "jndi", "sqli")

_U_ESCAPE = re2.compile(r"%u([0-9a-fA-F]{4})")
_SQL_COMMENT = re2.compile(r"/\*.*?\*/")
_LOOKUP = re2.compile(r"\$\{(?:lower:|upper:|::-|[a-z]+:[^:{}$]*:-|date:)'?([^${}']*)'?\}")


def _decode_once(text: str) -> str:
    if "%u" in text or "%U" in text:
        text = _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if "%" in text:
        text = unquote(text, errors="replace")
    if "&" in text and ";" in text:
        text = html.unescape(text)
    return text


@lru_cache(maxsize=NORMALIZED_CACHE_MAX)
def normalize(text: str) -> str:
    """The request text as the application would finally see it (see module docstring)."""
    text = text[:MAX_TEXT_CHARS].replace("+", " ")
    for _ in range(3):
        decoded = _decode_once(text)
        if decoded == text:
            break
        text = decoded
    text = text.lower()
    if "/*" in text:
        text = _SQL_COMMENT.sub(" ", text)
    if "${" in text:
        for _ in range(5):
            resolved = _LOOKUP.sub(lambda m: m.group(1), text)
            if resolved == text:
                break
            text = resolved
    # str.split is ~20x faster than a regex substitution here, and splits on the same spaces
    return " ".join(text.split())


class PatternSet:
    """The patterns of some families compiled into one RE2 set; `match` -> families found."""

    def __init__(self, families: list[str]):
        self._set = re2.Set.SearchSet(re2.Options())
        self._labels: list[tuple[str, int]] = []
        for family in families:
            for number, pattern in enumerate(PATTERNS[family]):
                self._set.Add(pattern)
                self._labels.append((family, number))
        self.empty = not self._labels
        if not self.empty:
            self._set.Compile()
        # bytes straight to the compiled set: the wrapper's Match re-encodes every text
        # (another google-re2 layout: the wrapper, which takes bytes too)
        self._match = getattr(self._set, "_set", self._set).Match

    def match(self, text: str) -> list[tuple[str, int]]:
        if self.empty or not text:
            return []
        found = self._match(text.encode("utf-8", "surrogatepass"))
        return [self._labels[index] for index in sorted(found)] if found else []


def request_text(event: dict) -> str:
    url = event.get("url.original")
    if not url:
        path = event.get("url.path") or ""
        query = event.get("url.query")
        url = f"{path}?{query}" if query else path
    body = event.get("http.request.body.content")
    return f"{url} {body}" if body else url


class WebAttackRule(ThresholdRule):
    type: Literal["web_attack"]  # type: ignore[assignment]
    families: list[Family] = Field(min_length=1)
    threshold: int = Field(1, ge=1, le=100_000, description="attack requests per key and "
                           "window before a finding (1: the first one)")


class WebAttackDetector(ThresholdDetector):
    def __init__(self, rule: WebAttackRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.request_patterns = PatternSet(list(rule.families))
        self.header_patterns = PatternSet([f for f in rule.families if f in HEADER_FAMILIES])
        self._header_cache: dict[str, list] = {}

    def inspect(self, event: dict) -> list[tuple[str, int]]:
        """(family, pattern number) pairs found in the event's request and headers."""
        found = self.request_patterns.match(normalize(request_text(event)))
        if not self.header_patterns.empty:
            for field in ("user_agent.original", "http.request.referrer"):
                value = event.get(field)
                if value and value != "-":
                    hits = self._headers(value)
                    if hits:
                        found += [hit for hit in hits if hit not in found]
        return found

    def _headers(self, value: str) -> list:
        # a few user agents and referrers make up most traffic: inspect each once
        hits = self._header_cache.get(value)
        if hits is None:
            hits = self.header_patterns.match(normalize(value))
            if len(self._header_cache) >= HEADER_CACHE_MAX:
                self._header_cache.clear()
            self._header_cache[value] = hits
        return hits

    def select(self, event: dict):
        key = self.selected_key(event)
        if key is None:
            return None
        found = self.inspect(event)
        if not found:
            return None
        return key, found

    def observe(self, event: dict, ts: float, key: tuple, found) -> dict | None:
        self._last_found = found
        return super().observe(event, ts, key, found)

    def fire(self, key: tuple, ts: float, evidence: Evidence, extra: dict | None = None):
        families = sorted({family for family, _ in self._last_found})
        last = evidence.last_event
        extra = {**(extra or {}),
                 "shouwang.web_attack.families": families,
                 "shouwang.web_attack.patterns": [f"{f}#{n}" for f, n in self._last_found],
                 "families": ", ".join(families)}
        if last.get("url.original"):
            extra["url.original"] = last["url.original"]
        return super().fire(key, ts, evidence, extra)


RULE_TYPE = RuleType("web_attack", WebAttackRule, WebAttackDetector,
                     "attack payloads in HTTP requests (decoded) and web shell access")
