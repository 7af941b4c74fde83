"""The syslog listener over real UDP and TCP sockets on 127.0.0.1 and ::1."""
import asyncio
import socket

import pytest

from collectors.framing import Framer
from collectors.syslog import SPEC, SyslogSettings
from tests.collectors.harness import CollectingEmitter, build_context, wait_for

SSHD = ("<38>Nov 25 14:25:43 web01 sshd[77]: Failed password for root from 198.51.100.3 "
        "port 2222 ssh2")
RFC5424 = ('<165>1 2026-11-25T14:25:43Z host app 12 ID47 [origin ip="10.0.0.1" '
           'software="x"] hello 5424')


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


class Listening:
    def __init__(self, tmp_path, listen, **extra):
        config = SyslogSettings(type="syslog", listen=listen, timezone="UTC", **extra)
        self.source = SPEC.build("syslog_in", config, build_context(tmp_path))
        self.emitter = CollectingEmitter("syslog_in")

    async def __aenter__(self):
        self.task = asyncio.create_task(self.source.run(self.emitter))
        await asyncio.wait_for(self.source.ready.wait(), 5)
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def address(self, scheme: str, family_host: str) -> tuple[str, int]:
        for value in self.source.addresses:
            if value.startswith(scheme) and family_host in value:
                host, _, port = value.split("://")[1].rpartition(":")
                return host.strip("[]"), int(port)
        raise AssertionError(self.source.addresses)

    def messages(self):
        return [e for e in self.emitter.events if e["event.kind"] == "event"]


async def test_udp_on_ipv4_and_ipv6(tmp_path):
    listen = ["udp://127.0.0.1:0"] + (["udp://[::1]:0"] if has_ipv6() else [])
    async with Listening(tmp_path, listen) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(SSHD.encode(), server.address("udp", "127.0.0.1"))
        if has_ipv6():
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as client:
                client.sendto(RFC5424.encode() + b"\n", server.address("udp", "::1"))
        await wait_for(lambda: len(server.messages()) == len(listen))
    first = server.messages()[0]
    assert first["event.action"] == "ssh_login"
    assert first["event.outcome"] == "failure"
    assert first["source.ip"] == "198.51.100.3"
    assert first["log.source.address"].startswith("127.0.0.1:")
    assert first["log.syslog.facility.name"] == "auth"
    if has_ipv6():
        second = server.messages()[1]
        assert second["log.syslog.structured_data.origin.ip"] == "10.0.0.1"
        assert second["message"] == "hello 5424"
        assert second["log.source.address"].startswith("[::1]:")


async def test_tcp_newline_and_octet_counting_on_one_connection(tmp_path):
    listen = ["tcp://127.0.0.1:0"] + (["tcp://[::1]:0"] if has_ipv6() else [])
    async with Listening(tmp_path, listen) as server:
        host, port = server.address("tcp", "127.0.0.1")
        reader, writer = await asyncio.open_connection(host, port)
        octet = RFC5424.encode()
        writer.write(SSHD.encode() + b"\n" + str(len(octet)).encode() + b" " + octet)
        writer.write(b"<13>Nov 25 14:25:44 h app[1]: split ")  # a message in two writes
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"in two\r\n")
        await writer.drain()
        await wait_for(lambda: len(server.messages()) == 3)
        writer.close()
        if has_ipv6():
            reader6, writer6 = await asyncio.open_connection(*server.address("tcp", "::1"))
            writer6.write(b"<13>Nov 25 14:25:45 h app[1]: over v6")  # closed without newline
            await writer6.drain()
            writer6.close()
            await wait_for(lambda: len(server.messages()) == 4)
    messages = [e["message"] for e in server.messages()]
    assert messages[:3] == ["Failed password for root from 198.51.100.3 port 2222 ssh2",
                            "hello 5424", "split in two"]
    if has_ipv6():
        assert messages[3] == "over v6"


async def test_oversized_and_invalid_utf8_are_counted_and_the_connection_survives(tmp_path):
    async with Listening(tmp_path, ["tcp://127.0.0.1:0", "udp://127.0.0.1:0"],
                         max_message_bytes=100) as server:
        reader, writer = await asyncio.open_connection(*server.address("tcp", "127.0.0.1"))
        writer.write(b"<13>Nov 25 14:25:43 h app[1]: " + b"A" * 500 + b"\n")
        writer.write(b"300 " + b"B" * 300)  # octet-counted, too long
        writer.write(b"<13>Nov 25 14:25:43 h app[1]: caf\xe9 after\n")
        await writer.drain()
        await wait_for(lambda: len(server.messages()) == 3)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"x" * 1000, server.address("udp", "127.0.0.1"))
        await wait_for(lambda: len(server.messages()) == 4)
        writer.close()
    long_line, octets, after, datagram = server.messages()
    assert len(long_line["event.original"]) == 100
    assert octets["event.original"] == "B" * 100
    assert after["message"] == "caf\ufffd after"
    assert len(datagram["event.original"]) == 100
    assert server.emitter.count("shouwang_component_errors_total", component="syslog_in",
                                stage="oversized") == 3
    assert server.emitter.count("shouwang_component_errors_total", component="syslog_in",
                                stage="decode") == 1
    stages = {e["shouwang.stage"] for e in server.emitter.errors()}
    assert stages == {"oversized", "decode"}


async def test_unparsed_messages_are_kept(tmp_path):
    async with Listening(tmp_path, ["udp://127.0.0.1:0"]) as server:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"not syslog at all", server.address("udp", "127.0.0.1"))
        await wait_for(lambda: server.messages())
    assert server.messages()[0]["tags"] == ["unparsed"]
    assert server.emitter.count("shouwang_unparsed_lines_total", component="syslog_in") == 1


async def test_connections_beyond_the_limit_are_closed(tmp_path):
    async with Listening(tmp_path, ["tcp://127.0.0.1:0"], max_connections=1) as server:
        address = server.address("tcp", "127.0.0.1")
        _, first = await asyncio.open_connection(*address)
        await asyncio.sleep(0.05)
        reader2, second = await asyncio.open_connection(*address)
        assert await asyncio.wait_for(reader2.read(), 5) == b""  # closed by the server
        first.write(b"<13>Nov 25 14:25:43 h app[1]: still served\n")
        await first.drain()
        await wait_for(lambda: server.messages())
        first.close()
        second.close()
    assert server.emitter.count("shouwang_component_errors_total", component="syslog_in",
                                stage="max_connections") == 1


def test_framer_octet_counting_split_anywhere():
    payload = b"11 hello world22 <13>Nov 25 h a: b c d\nplain line\n"
    for cut in range(len(payload)):
        framer = Framer(1000)
        got = framer.feed(payload[:cut]) + framer.feed(payload[cut:])
        assert [m for m, _ in got] == [b"hello world", b"<13>Nov 25 h a: b c d", b"plain line"]


def test_bad_listen_address_is_rejected():
    with pytest.raises(ValueError, match="udp://HOST:PORT"):
        SyslogSettings(type="syslog", listen=["udp://127.0.0.1"])
    with pytest.raises(ValueError, match="scheme"):
        SyslogSettings(type="syslog", listen=["http://127.0.0.1:1"])
