"""Syslog receiver against UDP and TCP socket servers on 127.0.0.1: RFC 5424 syntax checked
with an independent grammar, then read back by the project's own syslog parser as a SOC's
collector would (priority, structured data, BOM-prefixed UTF-8 message), TCP octet counting."""
from __future__ import annotations

import asyncio
import re
import socket

import pytest

from alerting.model import AlertState
from alerting.receivers.base import ReceiverError
from alerting.receivers.catalog import build_receiver
from collectors.parsers.syslog import SyslogParser
from tests.alerting.test_receivers_support import START, make_alert, make_context, \
    make_notification

SD_NAME = r'[!#-<>-\\^-~]{1,32}'                       # PRINTUSASCII except = SP ] "
SD_PARAM = rf' {SD_NAME}="(?:[^"\\\]]|\\["\\\]])*"'
RFC5424 = re.compile(
    rf'^<(\d{{1,3}})>1 (\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{{1,6}})?Z) ([!-~]{{1,255}}) '
    rf'([!-~]{{1,48}}) ([!-~]{{1,128}}) ([!-~]{{1,32}}) (\[{SD_NAME}(?:{SD_PARAM})*\])+'
    rf'(?: \ufeff(.*))?$', re.DOTALL)
HOSTILE = 'ua "quoted" \\ back ] bracket 中文'


def check(frame: bytes) -> dict:
    """RFC 5424 grammar, then our collector's reading of the frame."""
    text = frame.decode("utf-8")                        # strict: valid UTF-8 only
    assert RFC5424.match(text), text
    return SyslogParser().parse(text)


class UdpSink(asyncio.DatagramProtocol):
    def __init__(self):
        self.frames = []

    def datagram_received(self, data, addr):
        self.frames.append(data)


async def wait_for(predicate, timeout=3.0):
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


@pytest.fixture
async def udp_server():
    sink = UdpSink()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: sink, local_addr=("127.0.0.1", 0))
    sink.port = transport.get_extra_info("sockname")[1]
    yield sink
    transport.close()


@pytest.fixture
async def tcp_server():
    """Reads octet-counted frames (RFC 6587: LEN SP MSG) exactly as framed."""
    frames, connections = [], []

    async def serve(reader, writer):
        connections.append(1)
        while True:
            length = await reader.readuntil(b" ") if not reader.at_eof() else b""
            if not length:
                break
            frames.append(await reader.readexactly(int(length[:-1])))
            if reader.at_eof():
                break
        writer.close()

    async def serve_safely(reader, writer):
        try:
            await serve(reader, writer)
        except asyncio.IncompleteReadError:
            writer.close()

    server = await asyncio.start_server(serve_safely, "127.0.0.1", 0)
    server.frames, server.connections = frames, connections
    server.port = server.sockets[0].getsockname()[1]
    yield server
    server.close()
    await server.wait_closed()


async def test_udp_one_rfc5424_message_per_alert(udp_server):
    receiver = build_receiver("soc", {"type": "syslog", "host": "127.0.0.1",
                                      "port": udp_server.port, "hostname": "shouwang-1"},
                              make_context(clock=lambda: START + 5))
    firing = make_alert(labels={"user_agent": HOSTILE, "weird name=x": "1"})
    resolved = make_alert("HighRTT", severity="medium", state=AlertState.RESOLVED)
    await receiver.send(make_notification(firing, resolved))
    await wait_for(lambda: len(udp_server.frames) == 2)
    first, second = (check(frame) for frame in udp_server.frames)
    sd = "log.syslog.structured_data.shouwang@32473."
    assert first["log.syslog.priority"] == 16 * 8 + 2               # local0.crit
    assert first["log.syslog.msgid"] == "firing"
    assert first["@timestamp"].startswith("2025-11-25T13:43:40.713")
    assert first["host.hostname"] == "shouwang-1"
    assert first[sd + "alertname"] == "SSH brute force"
    assert first[sd + "source_ip"] == "203.0.113.7" and first[sd + "technique"] == "T1110"
    assert first[sd + "startsAt"] == "2025-11-25T13:43:35.713Z"
    assert first[sd + "user_agent"] == HOSTILE                        # escaped and restored
    assert first[sd + "weirdnamex"] == "1"                    # "=" and space cannot be in names
    assert first["message"] == "42 failed SSH logins from 203.0.113.7 in 60s"
    assert second["log.syslog.severity.name"] == "informational"     # resolved
    assert second[sd + "endsAt"] == "2025-11-25T13:48:35.713Z"


async def test_udp_message_cut_to_the_limit_on_a_character_boundary(udp_server):
    receiver = build_receiver("soc", {"type": "syslog", "host": "127.0.0.1",
                                      "port": udp_server.port, "max_message_bytes": 600},
                              make_context())
    alert = make_alert(annotations={"summary": "登录失败" * 400})
    await receiver.send(make_notification(alert))
    await wait_for(lambda: udp_server.frames)
    frame = udp_server.frames[0]
    assert len(frame) <= 600
    assert check(frame)["message"].startswith("登录失败")


async def test_tcp_octet_counting_carries_messages_with_newlines(tcp_server):
    receiver = build_receiver("soc", {"type": "syslog", "host": "127.0.0.1",
                                      "port": tcp_server.port, "protocol": "tcp"},
                              make_context())
    alerts = [make_alert(f"rule{i}", annotations={"summary": f"line one\nline two {i}"})
              for i in range(3)]
    await receiver.send(make_notification(*alerts))
    await wait_for(lambda: len(tcp_server.frames) == 3)
    events = [check(frame) for frame in tcp_server.frames]
    assert [e["log.syslog.structured_data.shouwang@32473.alertname"] for e in events] == \
        ["rule0", "rule1", "rule2"]
    assert events[0]["message"] == "line one line two 0"
    assert tcp_server.connections == [1]                 # one connection per notification


async def test_tcp_collector_down_is_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = build_receiver("soc", {"type": "syslog", "host": "127.0.0.1", "port": port,
                                      "protocol": "tcp"}, make_context())
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification())
    assert failure.value.retryable


def test_tls_needs_tcp():
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="tls needs protocol: tcp"):
        build_receiver("soc", {"type": "syslog", "host": "h", "tls": True}, make_context())
