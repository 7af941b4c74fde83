"""`dns_tunnel` rules: data carried in DNS query names (T1071.004 / T1048), per client and
registered domain: many random-looking names, or many distinct names, under one domain.

Tunnels (iodine, dnscat2, DNSExfiltrator) encode data in the labels left of a domain the
attacker's server answers for: every query is a new, long, high-entropy name. Per key (the
rule's `key`, normally source.ip of the query) and registered domain the detector counts, within
`window_secs`:
- distinct *random-looking* names: the longest label has at least `min_label_chars`
  characters, a Shannon entropy of at least `min_entropy_bits` per character, and at least
  `min_digit_share` digits. Entropy alone does not separate hex (about 3.5 bits for 24-32
  characters) from long English labels (3.5-4): the digits do (hex ~60%, base32 ~20%, words
  none);
- distinct names at all under the domain (`max_subdomains`), which catches tunnels using short
  labels too.
Repeated names do not count (resolvers and browsers repeat names; tunnels never do).

The registered domain is the last two labels, or three when the second-level label is a
public one under a country code (example.com.cn, example.co.uk): a heuristic without the
Public Suffix List, good enough to group a tunnel's names under the domain it abuses.
Reverse lookups (*.arpa) and mDNS (*.local) are never examined.

Bounds: per key at most `max_subdomains` names and `max_random_names` random names are held.
"""
from __future__ import annotations

import math
from collections import Counter, OrderedDict
from typing import Literal

from pydantic import Field

from detectors.base import WindowDetector
from detectors.findings import Evidence
from detectors.rules import RuleBase, RuleType

PUBLIC_SECOND_LEVEL = frozenset({"com", "net", "org", "gov", "edu", "ac", "co", "or", "ne",
                                 "go", "mil", "ltd", "plc", "nic", "sch", "gen", "biz", "info"})
IGNORED_SUFFIXES = (".arpa", ".local")
DOMAIN_FIELD = "dns.question.registered_domain"


def registered_domain(name: str) -> str | None:
    """The domain a name is registered under (see module docstring), None for a bare TLD."""
    labels = name.split(".")
    if len(labels) < 2:
        return None
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in PUBLIC_SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def entropy_bits(text: str) -> float:
    """Shannon entropy of the characters of `text`, in bits per character."""
    size = len(text)
    if not size:
        return 0.0
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values())


class DnsTunnelRule(RuleBase):
    type: Literal["dns_tunnel"]
    min_label_chars: int = Field(20, ge=8, le=63, description="a random-looking label is at "
                                 "least this long")
    min_entropy_bits: float = Field(3.2, ge=1, le=6, description="and has at least this "
                                    "entropy per character")
    min_digit_share: float = Field(0.1, ge=0, le=1, description="and at least this share of "
                                   "digits")
    max_random_names: int = Field(10, ge=1, le=10_000, description="distinct random-looking "
                                  "names per key and domain in the window before a finding")
    max_subdomains: int = Field(100, ge=2, le=10_000, description="distinct names per key and "
                                "domain in the window before a finding")


class _Names:
    __slots__ = ("names", "random")

    def __init__(self):
        self.names: OrderedDict = OrderedDict()   # name -> (time, event id)
        self.random: OrderedDict = OrderedDict()  # random-looking name -> (time, event id)


def _trim(seen: OrderedDict, horizon: float, bound: int) -> None:
    while seen:
        oldest = next(iter(seen.values()))
        if oldest[0] > horizon and len(seen) <= bound:
            break
        seen.popitem(last=False)


class DnsTunnelDetector(WindowDetector):
    def __init__(self, rule: DnsTunnelRule, metrics, created):
        super().__init__(rule, metrics, created)
        self.base_fields = list(self.key_fields)
        self.key_fields = self.base_fields + [DOMAIN_FIELD]  # findings name the domain
        self.min_label_chars = rule.min_label_chars
        self.min_entropy_bits = rule.min_entropy_bits
        self.min_digit_share = rule.min_digit_share
        self.max_random_names = rule.max_random_names
        self.max_subdomains = rule.max_subdomains

    def is_random(self, subdomain: str) -> bool:
        longest = max(subdomain.split("."), key=len)
        if len(longest) < self.min_label_chars:
            return False
        digits = sum(ch.isdigit() for ch in longest)
        return digits >= self.min_digit_share * len(longest) and \
            entropy_bits(longest) >= self.min_entropy_bits

    def select(self, event: dict):
        if not self.predicate(event):
            return None
        name = event.get("dns.question.name")
        if not isinstance(name, str) or not name:
            return None
        name = name.lower().rstrip(".")
        if name.endswith(IGNORED_SUFFIXES):
            return None
        domain = registered_domain(name)
        if domain is None or len(name) <= len(domain):
            return None
        key = []
        for field in self.base_fields:
            value = event.get(field)
            if value is None or value == "" or isinstance(value, (list, dict)):
                return None
            key.append(value)
        subdomain = name[:-len(domain) - 1]
        return tuple(key) + (domain,), (name, self.is_random(subdomain))

    def observe(self, event: dict, ts: float, key: tuple, info) -> dict | None:
        name, random = info
        state = self.state.get(key, _Names)
        horizon = ts - self.window_secs
        stamp = (ts, event.get("event.id"))
        state.names.pop(name, None)
        state.names[name] = stamp
        _trim(state.names, horizon, self.max_subdomains)
        if random:
            state.random.pop(name, None)
            state.random[name] = stamp
        _trim(state.random, horizon, self.max_random_names)
        if len(state.random) >= self.max_random_names:
            signal, seen = "random_labels", state.random
        elif len(state.names) >= self.max_subdomains:
            signal, seen = "many_subdomains", state.names
        else:
            return None
        if self.quiet(key, ts):
            return None
        stamps = list(seen.values())
        names = list(seen)
        evidence = Evidence(len(names), stamps[0][0], ts, [i for _, i in stamps], event, names)
        extra = {"shouwang.dns.tunnel_signal": signal,
                 "shouwang.evidence.distinct_field": "dns.question.name",
                 "shouwang.evidence.distinct_values": names[:10],
                 "signal": "random-looking names" if signal == "random_labels"
                 else "distinct names"}
        state.names.clear()
        state.random.clear()
        return self.fire(key, ts, evidence, extra)


RULE_TYPE = RuleType("dns_tunnel", DnsTunnelRule, DnsTunnelDetector,
                     "random-looking or many distinct query names under one domain per client")
