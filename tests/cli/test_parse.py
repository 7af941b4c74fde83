"""`shouwang parse` through the installed console script, as a user runs it."""
import gzip
import subprocess
import sys
from pathlib import Path

import orjson

SHOUWANG = str(Path(sys.executable).with_name("shouwang"))
ACCESS = ('203.0.113.9 - - [25/Nov/2026:14:25:43 +0000] "GET /wp-login.php?x=1 HTTP/1.1" 404 '
          '12 "-" "curl/8"')
SSHD = ("Nov 25 14:25:43 web01 sshd[77]: Failed password for root from 198.51.100.3 port 2222 "
        "ssh2")


def shouwang(*args, stdin: bytes | None = None):
    return subprocess.run([SHOUWANG, "parse", *args], input=stdin, capture_output=True,
                          timeout=60)


def events(stdout: bytes) -> list[dict]:
    return [orjson.loads(line) for line in stdout.splitlines()]


def test_files_gz_and_stdin_become_ndjson(tmp_path):
    plain = tmp_path / "access.log"
    plain.write_text(ACCESS + "\nnot a log line\n")
    packed = tmp_path / "auth.log.1.gz"
    packed.write_bytes(gzip.compress((SSHD + "\n").encode()))
    result = shouwang("--timezone", "UTC", str(plain), str(packed), "-",
                      stdin=(SSHD + "\n").encode())
    assert result.returncode == 0, result.stderr
    out = events(result.stdout)
    assert len(out) == 4
    assert out[0]["url.path"] == "/wp-login.php"
    assert out[0]["http.response.status_code"] == 404
    assert out[1]["tags"] == ["unparsed"] and out[1]["event.original"] == "not a log line"
    assert out[2]["source.ip"] == out[3]["source.ip"] == "198.51.100.3"
    assert out[2]["event.outcome"] == "failure"
    assert b"4 lines, 3 parsed, 1 unparsed" in result.stderr


def test_explicit_format_and_log_format(tmp_path):
    path = tmp_path / "custom.log"
    path.write_text("192.0.2.1|GET /x HTTP/1.1|200\n")
    result = shouwang("--format", "nginx", "--log-format", "$remote_addr|$request|$status",
                      str(path))
    assert result.returncode == 0, result.stderr
    [event] = events(result.stdout)
    assert (event["source.ip"], event["url.path"], event["http.response.status_code"]) == \
        ("192.0.2.1", "/x", 200)


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    path = tmp_path / "bad.log"
    path.write_bytes(b"Nov 25 14:25:43 h app[1]: caf\xe9\n")
    result = shouwang(str(path))
    [event] = events(result.stdout)
    assert event["message"] == "caf\ufffd"
    assert b"1 with invalid UTF-8" in result.stderr


def test_missing_file_and_unknown_format_exit_2(tmp_path):
    missing = shouwang(str(tmp_path / "nope.log"))
    assert missing.returncode == 2
    assert b"no such file" in missing.stderr and missing.stdout == b""
    unknown = shouwang("--format", "ngnix", str(tmp_path))
    assert unknown.returncode == 2 and b"did you mean 'nginx'" in unknown.stderr


def test_pcap_files_become_flow_and_dns_events(tmp_path):
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    client, server = "192.0.2.10", "198.51.100.20"
    packets = [Ether() / IP(src=client, dst=server) / TCP(sport=40000, dport=443, flags="S"),
               Ether() / IP(src=server, dst=client) / TCP(sport=443, dport=40000, flags="SA"),
               Ether() / IP(src=client, dst=server) / UDP(sport=5353, dport=53)
               / DNS(rd=1, qd=DNSQR(qname="cpquery.cnipa.gov.cn"))]
    for number, packet in enumerate(packets):
        packet.time = 1764080743 + number * 0.01
    capture = tmp_path / "trace.pcap"
    wrpcap(str(capture), packets)
    for argv in (("--format", "pcap", str(capture)), (str(capture),)):
        result = shouwang(*argv)
        assert result.returncode == 0, result.stderr
        found = events(result.stdout)
        flows = [e for e in found if e["event.dataset"] == "network.flow"]
        dns = [e for e in found if e["event.dataset"] == "network.dns"]
        assert any(e["source.ip"] == client and e["destination.port"] == 443 for e in flows)
        assert dns and dns[0]["dns.question.name"] == "cpquery.cnipa.gov.cn"


def test_truncated_gz_prints_what_was_readable(tmp_path):
    data = gzip.compress(("\n".join([SSHD] * 2000) + "\n").encode())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(data[: len(data) // 2])
    result = shouwang(str(path))
    assert result.returncode == 2
    assert 0 < len(events(result.stdout)) < 2000
    assert b"kept what could be read" in result.stderr
