"""nginx / apache access and error lines -> exact ECS fields."""
import ipaddress
import random
from datetime import timezone

from collectors.parsers.access import AccessLogParser
from collectors.parsers.apache_error import ApacheErrorParser
from collectors.parsers.base import ParserOptions, classify_address
from collectors.parsers.nginx_error import NginxErrorParser
from collectors.parsers.web import ApacheParser, NginxParser

UTC_OPTIONS = ParserOptions(timezone=timezone.utc)


def test_nginx_combined_line():
    line = ('203.0.113.9 - alice [25/Nov/2026:14:25:43 +0800] "GET /search?q=%27+or+1%3D1 '
            'HTTP/1.1" 403 512 "https://ref.example/" "curl/8.5.0"')
    event = NginxParser(UTC_OPTIONS).parse(line)
    assert event["@timestamp"] == "2026-11-25T06:25:43.000000Z"
    assert event["event.dataset"] == "nginx.access"
    assert event["source.ip"] == "203.0.113.9"
    assert event["user.name"] == "alice"
    assert event["http.request.method"] == "GET"
    assert event["url.original"] == "/search?q=%27+or+1%3D1"
    assert event["url.path"] == "/search"
    assert event["url.query"] == "q=%27+or+1%3D1"
    assert event["http.version"] == "1.1"
    assert event["http.response.status_code"] == 403
    assert event["http.response.body.bytes"] == 512
    assert event["http.request.referrer"] == "https://ref.example/"
    assert event["user_agent.original"] == "curl/8.5.0"
    assert event["event.category"] == ["web"]
    assert event["event.outcome"] == "failure"
    assert event["event.original"] == line


def test_common_format_ipv6_client_and_apache_ident():
    event = ApacheParser(UTC_OPTIONS).parse(
        '2001:db8::7 ident - [01/Jan/2026:00:00:00 +0000] "POST /login HTTP/1.0" 200 -')
    assert event["event.dataset"] == "apache.access"
    assert event["source.ip"] == "2001:db8::7"
    assert event["event.outcome"] == "success"
    assert "http.response.body.bytes" not in event
    assert "user.name" not in event


def test_malformed_request_kept_in_url_original():
    event = NginxParser(UTC_OPTIONS).parse(
        '198.51.100.1 - - [01/Jan/2026:00:00:00 +0000] "\\x16\\x03\\x01" 400 157 "-" "-"')
    assert event["url.original"] == "\\x16\\x03\\x01"
    assert "http.request.method" not in event
    assert event["http.response.status_code"] == 400


def test_custom_log_format():
    options = ParserOptions(timezone=timezone.utc, log_format=(
        '$remote_addr:$remote_port [$time_iso8601] "$request" $status $body_bytes_sent '
        'rt=$request_time ua="$http_user_agent" up=$upstream_addr $custom_var'))
    event = AccessLogParser(options).parse(
        '192.0.2.5:51000 [2026-11-25T14:25:43+08:00] "GET /a/b?x=1 HTTP/2.0" 502 0 '
        'rt=0.250 ua="Mozilla/5.0 (X11)" up=10.0.0.2:8080 hello')
    assert event["@timestamp"] == "2026-11-25T06:25:43.000000Z"
    assert event["source.ip"] == "192.0.2.5"
    assert event["source.port"] == 51000
    assert event["url.path"] == "/a/b"
    assert event["url.query"] == "x=1"
    assert event["http.response.status_code"] == 502
    assert event["http.response.body.bytes"] == 0
    assert event["event.duration"] == 250_000_000
    assert event["user_agent.original"] == "Mozilla/5.0 (X11)"
    assert event["shouwang.nginx.upstream_addr"] == "10.0.0.2:8080"
    assert event["shouwang.nginx.custom_var"] == "hello"
    assert AccessLogParser(options).parse("something else") is None


def test_nginx_error_auth_failure_takes_the_last_client():
    line = ('2014/04/03 22:20:40 [error] 30708#0: *3 user "test": password mismatch, client: '
            '127.0.0.1, server: test, request: "GET / HTTP/1.1", host: "localhost:8443"": was '
            'not found in "/etc/nginx/.htpasswd", client: 192.0.2.2, server: , request: '
            '"GET / HTTP/1.1", host: "localhost:8443"')
    event = NginxErrorParser(UTC_OPTIONS).parse(line)
    assert event["source.ip"] == "192.0.2.2"
    assert event["event.action"] == "http_auth_failure"
    assert event["event.outcome"] == "failure"
    assert event["@timestamp"] == "2014-04-03T22:20:40.000000Z"


def test_nginx_error_missing_file_and_upstream():
    parser = NginxErrorParser(UTC_OPTIONS)
    missing = parser.parse(
        '2015/01/21 10:56:10 [error] 2833#0: *16336 open() "/var/www/site/cgi-bin/php4" failed '
        '(2: No such file or directory), client: 5.7.9.2, server: localhost, request: '
        '"GET /cgi-bin/php4 HTTP/1.1", host: "1.2.3.4"')
    assert missing["event.action"] == "http_file_not_found"
    assert missing["file.path"] == "/var/www/site/cgi-bin/php4"
    assert missing["url.path"] == "/cgi-bin/php4"
    assert missing["source.ip"] == "5.7.9.2"
    upstream = parser.parse(
        '2020/11/25 16:02:45 [error] 76952#76952: *5645766 connect() failed (111: Connection '
        'refused) while connecting to upstream, client: 5.126.32.148, server: www.example.de, '
        'request: "GET /admin HTTP/2.0", upstream: "http://127.0.0.1:3000/admin", '
        'host: "www.example.de"')
    assert upstream["event.action"] == "http_upstream_error"
    assert upstream["shouwang.nginx.upstream"] == "http://127.0.0.1:3000/admin"
    timeout = parser.parse(
        '2026/11/25 10:00:00 [error] 1#1: *9 upstream timed out (110: Connection timed out) '
        'while reading response header from upstream, client: 192.0.2.1, server: s, request: '
        '"GET / HTTP/1.1", upstream: "http://10.0.0.1:80/", host: "s"')
    assert timeout["event.action"] == "http_upstream_error"
    assert timeout["log.level"] == "error"


def test_apache_22_and_24_error_lines():
    parser = ApacheErrorParser(UTC_OPTIONS)
    old = parser.parse("[Wed Jul 17 22:18:52 2013] [error] [client 127.0.0.1] user username: "
                       'authentication failure for "/basic/file": Password Mismatch')
    assert old["event.action"] == "http_auth_failure"
    assert old["user.name"] == "username"
    assert old["source.ip"] == "127.0.0.1"
    assert old["@timestamp"] == "2013-07-17T22:18:52.000000Z"
    new = parser.parse("[Sat Jul 20 21:40:33.803528 2013] [auth_basic:error] [pid 17540:tid "
                       "140123095914240] [client 127.0.0.1:51395] AH01618: user wrongusername "
                       "not found: /basic/file")
    assert new["user.name"] == "wrongusername"
    assert new["source.port"] == 51395
    assert new["error.code"] == "AH01618"
    assert new["log.logger"] == "auth_basic"
    assert new["@timestamp"] == "2013-07-20T21:40:33.803528Z"
    missing = parser.parse("[Tue Jul 22 06:48:30 2008] [error] [client 198.51.100.86] File does "
                           "not exist: /home/southern/public_html/azenv.php")
    assert missing["event.action"] == "http_file_not_found"
    proxy = parser.parse("[Mon Nov 23 10:00:00.1 2026] [proxy:error] [pid 5] [client 192.0.2.1:"
                         "5000] (111)Connection refused: AH00957: HTTP: attempt to connect to "
                         "127.0.0.1:8080 (127.0.0.1) failed")
    assert proxy["event.action"] == "http_upstream_error"
    assert parser.parse("not an error line") is None


def test_client_addresses_are_written_as_ipaddress_writes_them():
    rng = random.Random(7)
    for _ in range(20_000):
        # many zero groups: the runs RFC 5952 compresses, and embedded-IPv4 shapes
        words = [rng.choice((0, 0, 0, 1, 0xFFFF, rng.randrange(65536))) for _ in range(8)]
        text = ":".join(f"{word:X}" for word in words)
        ip = ipaddress.ip_address(text)
        expected = str(ip.ipv4_mapped) if ip.ipv4_mapped is not None else str(ip)
        assert classify_address(text) == (expected, None), text
    assert classify_address("[::ffff:10.1.2.3]") == ("10.1.2.3", None)
    assert classify_address("fe80::1%eth0") == ("fe80::1", None)
    assert classify_address("203.0.113.9") == ("203.0.113.9", None)
    # not addresses: kept as a domain, never as an ip
    for text in ("192.030.0.6", "1.2.3", "256.1.1.1", "2001:db8::g", "portal.example.cn"):
        assert classify_address(text) == (None, text)
    assert classify_address("-") == (None, None)
