"""Settings of the `probes` source: targets, each with a module (http, tcp, dns, icmp).

Names follow blackbox_exporter's configuration where one exists (valid_status_codes,
fail_if_body_matches_regexp -> body_must_not_match, preferred_ip_protocol -> ip_protocol, ...).
Regular expressions are RE2 (linear time: a hostile body cannot stall the prober) and are
compiled when the configuration is validated, so a bad one is a configuration error.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import re2
from pydantic import AfterValidator, Field, model_validator
from typing_extensions import Annotated

from core.settings import StrictModel
from collectors.probes.export import TargetLabels


def _check_regex(pattern: str) -> str:
    try:
        re2.compile(pattern)
    except Exception as exc:
        raise ValueError(f"not a valid RE2 regular expression: {exc}") from None
    return pattern


Regex = Annotated[str, AfterValidator(_check_regex)]


class HttpOptions(StrictModel):
    method: Literal["GET", "HEAD", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = Field(None, description="request body (for POST)")
    valid_status_codes: list[int] = Field(default_factory=list,
                                          description="empty means any 2xx")
    body_must_match: list[Regex] = Field(default_factory=list,
                                         description="RE2 patterns the body must contain")
    body_must_not_match: list[Regex] = Field(default_factory=list,
                                             description="RE2 patterns the body must not contain")
    follow_redirects: bool = True
    max_redirects: int = Field(10, ge=0, le=50)
    fail_if_not_ssl: bool = False
    ca_file: Path | None = Field(None, description="CA bundle to verify with (else system CAs)")
    insecure_skip_verify: bool = Field(False, description="do not verify the certificate chain "
                                       "(its expiry is still exported)")
    server_name: str | None = Field(None, description="TLS SNI and name to verify, if not the "
                                    "URL's host")
    max_body_bytes: int = Field(1024 * 1024, ge=0, description="bytes of body read at most; "
                                "a longer body fails the probe")


class TcpOptions(StrictModel):
    send: str | None = Field(None, description="text sent after connecting (\\n etc. as in YAML)")
    expect: Regex | None = Field(None, description="RE2 pattern the answer must match")
    max_read_bytes: int = Field(64 * 1024, ge=1)


class DnsOptions(StrictModel):
    server: str = Field(description="host:port of the DNS server to ask ([::1]:53 for IPv6)")
    query_type: Literal["A", "AAAA"] = "A"
    valid_rcodes: list[Literal["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
                               "REFUSED"]] = Field(default_factory=lambda: ["NOERROR"])
    fail_if_no_answer: bool = False


class IcmpOptions(StrictModel):
    payload_bytes: int = Field(36, ge=0, le=1400)


class ProbeTarget(StrictModel):
    module: Literal["http", "tcp", "dns", "icmp"]
    target: str = Field(min_length=1, description="URL (http), host:port (tcp), name (dns), "
                        "host (icmp)")
    labels: TargetLabels = Field(default_factory=dict,
                                 description="system, tier, owner, ...: on metrics and events")
    interval_secs: float | None = Field(None, gt=0, description="defaults to the source's")
    timeout_secs: float | None = Field(None, gt=0, description="defaults to the source's")
    ip_protocol: Literal["auto", "ip4", "ip6"] = Field(
        "auto", description="auto: the first address the resolver gives; ip4/ip6: only that "
        "family (the probe fails if the name has none)")
    http: HttpOptions = Field(default_factory=HttpOptions)
    tcp: TcpOptions = Field(default_factory=TcpOptions)
    dns: DnsOptions | None = None
    icmp: IcmpOptions = Field(default_factory=IcmpOptions)

    @model_validator(mode="after")
    def _module_needs(self):
        if self.module == "http" and not self.target.startswith(("http://", "https://")):
            raise ValueError("an http target is a URL starting with http:// or https://")
        if self.module == "tcp" and not self.target.rpartition(":")[2].isdigit():
            raise ValueError("a tcp target is host:port ([::1]:port for IPv6)")
        if self.module == "dns" and self.dns is None:
            raise ValueError("a dns target needs dns.server")
        return self

    def key(self) -> str:
        """What identifies the target within its source."""
        return f"{self.module}:{self.target}:{self.ip_protocol}:" + ",".join(
            f"{k}={v}" for k, v in sorted(self.labels.items()))


class ProbesSettings(StrictModel):
    type: Literal["probes"]
    targets: list[ProbeTarget] = Field(min_length=1)
    interval_secs: float = Field(15.0, gt=0)
    timeout_secs: float = Field(5.0, gt=0, le=120)
    max_concurrency: int = Field(200, ge=1, le=10_000,
                                 description="probes running at once, at most")

    @model_validator(mode="after")
    def _unique(self):
        seen: set[str] = set()
        for index, target in enumerate(self.targets):
            if target.key() in seen:
                raise ValueError(f"targets[{index}] repeats {target.module} {target.target!r} "
                                 "with the same ip_protocol and labels")
            seen.add(target.key())
        return self
