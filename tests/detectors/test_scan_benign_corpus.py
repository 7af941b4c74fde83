"""The false-alert budget of the network and behaviour rules: at most 1 finding per 100,000
benign events, over a generated day-part of an IP office's ordinary life (2 hours): portal
browsing, searches and document downloads by hundreds of readers, a few dead links, normal SSH
logins and sudo work, cron chatter, e-filing by applicants and agencies, and the flows and DNS
lookups behind all of it. The corpus is seeded, so a failure reproduces."""
from __future__ import annotations

import random
from itertools import count

from prometheus_client import CollectorRegistry

from core.events import format_ts
from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
from detectors.engine import Engine
from detectors.rules import load_rules

PREFIXES = ("scan-", "flood-", "dns-", "scraping-", "filing-", "account-", "log-")
MY_RULES = [item for item in load_rules(DEFAULT_RULES_DIR, default_rule_types())
            if item.rule.id.startswith(PREFIXES)]
T0 = 1_795_600_800.0
HOURS = 2
MIN_EVENTS = 100_000
SERVER = "198.51.100.10"
RESOLVER = "198.51.100.53"
NAMES = ["www.cnipa.gov.cn", "pss-system.cponline.cnipa.gov.cn", "fonts.gstatic.com",
         "e6858.dscx.akamaiedge.net", "www.baidu.com", "api.weixin.qq.com", "cdn.jsdelivr.net",
         "a1b2c3d4e5f6a7b8c9d0.cloudfront.net", "ocsp.digicert.cn", "update.microsoft.com",
         "my-loadbalancer-1234567890.cn-north-1.elb.amazonaws.com.cn"]


class Corpus:
    def __init__(self, seed: int = 20261125):
        self.rnd = random.Random(seed)
        self.ids = count()
        self.events: list[dict] = []

    def add(self, second: float, **fields) -> None:
        event = {"@timestamp": format_ts(T0 + second), "event.id": f"b{next(self.ids)}",
                 "event.kind": "event"}
        event.update({key.replace("__", "."): value for key, value in fields.items()})
        self.events.append(event)

    def flow(self, second, src, dst, dport, *, transport="tcp", data=True, packets=8):
        flags = ["S", "SA", "A", "PA", "FA"] if data else ["S", "RA"]
        fields = dict(event__dataset="network.flow", event__action="flow_end",
                      network__transport=transport, source__ip=src, destination__ip=dst,
                      source__port=self.rnd.randint(32768, 60999), destination__port=dport,
                      source__packets=packets, destination__packets=packets if data else 1,
                      network__packets=2 * packets, event__duration=int(0.2e9))
        if transport == "tcp":
            fields["shouwang__flow__tcp_flags"] = flags
        self.add(second, **fields)

    def lookup(self, second, client, name, rcode="NOERROR"):
        self.add(second, event__dataset="network.dns", dns__type="query", source__ip=client,
                 destination__ip=RESOLVER, dns__question__name=name)
        self.add(second + 0.002, event__dataset="network.dns", dns__type="answer",
                 source__ip=RESOLVER, destination__ip=client, dns__question__name=name,
                 dns__response_code=rcode)

    def request(self, second, ip, path, status=200):
        self.add(second, event__dataset="nginx.access", source__ip=ip,
                 http__request__method="GET", url__path=path.split("?")[0], url__original=path,
                 http__response__status_code=status,
                 user_agent__original="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0")

    def syslog(self, second, host, process, message, dataset="system.syslog", **fields):
        self.add(second, event__dataset=dataset, host__hostname=host, process__name=process,
                 message=message, **fields)


def readers(corpus: Corpus) -> None:
    rnd = corpus.rnd
    for reader in range(600):
        ip = f"10.{reader // 250}.{reader % 250}.{rnd.randint(1, 254)}"
        second = rnd.uniform(0, HOURS * 3600 - 1800)
        for _ in range(rnd.randint(20, 120)):  # one session: pages, searches, documents
            kind = rnd.random()
            if kind < 0.3:
                path = f"/search?q=term{rnd.randint(1, 5000)}&page={rnd.randint(1, 5)}"
            elif kind < 0.6:
                path = f"/patent/CN{rnd.randint(100000000, 119999999)}A"
            elif kind < 0.7:
                path = f"/docs/CN{rnd.randint(100000000, 119999999)}A.pdf"
            elif kind < 0.8:
                path = f"/trademark/{rnd.randint(10000000, 79999999)}"
            else:
                path = rnd.choice(["/", "/static/app.js", "/static/app.css", "/news/2026/11"])
            status = 404 if rnd.random() < 0.02 else 200  # dead links happen
            corpus.request(second, ip, path, status)
            corpus.flow(second, ip, SERVER, 443)
            if rnd.random() < 0.2:
                corpus.lookup(second - 0.05, ip, rnd.choice(NAMES))
            if rnd.random() < 0.01:
                corpus.lookup(second - 0.05, ip, f"typo{rnd.randint(1, 99)}.cnipa.gov.cn",
                              "NXDOMAIN")
            second += rnd.expovariate(1 / 12)


def operations(corpus: Corpus) -> None:
    rnd = corpus.rnd
    hosts = [f"app{n}" for n in range(8)]
    for host in hosts:  # cron and services log all the time: no gaps
        second = rnd.uniform(0, 20)
        while second < HOURS * 3600:
            corpus.syslog(second, host, "CRON", "(root) CMD (/usr/lib/sa/sa1 1 1)")
            second += rnd.uniform(5, 60)
    for n in range(300):  # logins and sudo work
        second = rnd.uniform(0, HOURS * 3600)
        host, user = rnd.choice(hosts), rnd.choice(["alice", "bob", "deploy", "carol"])
        ip = f"10.9.0.{rnd.randint(2, 40)}"
        if rnd.random() < 0.1:
            corpus.syslog(second - 5, host, "sshd", f"Failed password for {user} from {ip}",
                          "system.auth", event__outcome="failure", source__ip=ip,
                          user__name=user)
        corpus.syslog(second, host, "sshd", f"Accepted publickey for {user} from {ip}",
                      "system.auth", event__outcome="success", source__ip=ip, user__name=user)
        corpus.flow(second, ip, f"10.8.0.{hosts.index(host) + 10}", 22)
        command = rnd.choice(["/usr/bin/systemctl restart nginx", "/usr/bin/tail -n 200 "
                              "/var/log/nginx/error.log", "/usr/sbin/logrotate -f "
                              "/etc/logrotate.d/nginx", "/usr/bin/apt-get upgrade -y",
                              "/usr/bin/grep -r Failed /var/log/auth.log"])
        corpus.syslog(second + 30, host, "sudo", f"{user} : COMMAND={command}", "system.auth",
                      event__action="sudo_command", user__name=user,
                      process__command_line=command)
    for n in range(3):
        second = rnd.uniform(0, HOURS * 3600)
        corpus.syslog(second, "app1", "passwd", "pam_unix(passwd:chauthtok): password "
                      f"changed for user{n}")
        corpus.syslog(second, "app2", "usermod", f"add 'user{n}' to group 'docker'")
    for n in range(2000):  # monitoring: one health check a few seconds apart per service
        corpus.flow(n * 3.5, "10.7.0.2", SERVER, rnd.choice([443, 8700, 9100, 5432]))


def filings(corpus: Corpus) -> None:
    rnd = corpus.rnd
    for n in range(3000):
        applicant = rnd.randint(1, 2000)
        agent = rnd.randint(1, 120)
        corpus.add(rnd.uniform(0, HOURS * 3600), event__dataset="efiling.application",
                   event__action="application_submitted",
                   shouwang__filing__application_id=f"CN2026{n:07d}",
                   shouwang__filing__applicant_id=f"9111{applicant:014d}",
                   shouwang__filing__agent_id=f"{11000 + agent}",
                   shouwang__filing__address=f"北京市海淀区学院路{applicant}号")


def test_benign_corpus_stays_within_the_false_alert_budget():
    assert len(MY_RULES) >= 20
    corpus = Corpus()
    readers(corpus)
    operations(corpus)
    filings(corpus)
    events = sorted(corpus.events, key=lambda e: e["@timestamp"])
    assert len(events) >= MIN_EVENTS
    engine = Engine.build(MY_RULES, registry=CollectorRegistry(), clock=lambda: T0)
    findings = []
    for start in range(0, len(events), 5000):
        findings += engine.process(events[start:start + 5000])
    findings += engine.flush()
    budget = len(events) // MIN_EVENTS
    print(f"\n{len(events)} benign events, {len(MY_RULES)} rules, {len(findings)} findings: "
          f"{[f['rule.id'] for f in findings]}")
    assert len(findings) <= budget, [(f["rule.id"], f["message"]) for f in findings]
