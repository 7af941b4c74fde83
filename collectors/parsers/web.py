"""The "nginx" and "apache" formats: a web server's access log or its error log.

Users point one `format: nginx` at /var/log/nginx/*.log, which holds both; each line is tried
as an access line first (by far the most frequent), then as an error line.
"""
from __future__ import annotations

from collectors.parsers.access import AccessLogParser, ApacheAccessParser
from collectors.parsers.apache_error import ApacheErrorParser
from collectors.parsers.base import ParserOptions
from collectors.parsers.nginx_error import NginxErrorParser


class NginxParser:
    name = "nginx"

    def __init__(self, options: ParserOptions | None = None):
        self._access = AccessLogParser(options).parse
        self._error = NginxErrorParser(options).parse

    def parse(self, line: str) -> dict | None:
        return self._access(line) or self._error(line)


class ApacheParser:
    name = "apache"

    def __init__(self, options: ParserOptions | None = None):
        self._access = ApacheAccessParser(options).parse
        self._error = ApacheErrorParser(options).parse

    def parse(self, line: str) -> dict | None:
        return self._access(line) or self._error(line)
