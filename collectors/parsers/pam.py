"""PAM messages from any program: "pam_unix(sshd:auth): authentication failure; logname= uid=0
euid=0 tty=ssh ruser= rhost=192.0.2.1  user=root" (and the older "(pam_unix) ..." spelling),
plus session opened/closed lines.

ruser and user are client-controlled and may contain " rhost=1.2.3.4"; PAM writes them as
"ruser=%s rhost=%s[ user=%s]", so with a user= part the rhost is the first after ruser, and
without one it is the last.
"""
from __future__ import annotations

import re

from collectors.parsers.base import set_source

_WITH_USER = re.compile(r"ruser=(.*?) rhost=(\S*)\s+user=(.*?)\s*$")
_WITHOUT_USER = re.compile(r"ruser=(.*) rhost=(\S*)\s*$")
_SERVICE = re.compile(r"(?:pam_\w+\((\S+?)(?::\w+)?\):|\(pam_\w+\)) ")
_SESSION = re.compile(r"pam_\w+\((\S+?):session\): session (opened|closed) for user (\S+?)"
                      r"(?:\(uid=\d+\))?(?: by (\S*?)(?:\(uid=\d+\))?)?\s*$")


def is_pam(message: str) -> bool:
    return "pam_" in message[:40]


def fill_pam(event: dict, message: str) -> bool:
    """Fill an event from a PAM message; False when it is not one we know."""
    if "authentication failure;" in message:
        service = _SERVICE.match(message)
        if service and service.group(1):
            event["shouwang.pam.service"] = service.group(1)
        match = _WITH_USER.search(message) or _WITHOUT_USER.search(message)
        event["event.action"] = "pam_auth_failure"
        event["event.category"] = ["authentication"]
        event["event.type"] = ["start"]
        event["event.outcome"] = "failure"
        if match:
            ruser, rhost = match.group(1), match.group(2)
            user = match.group(3) if match.lastindex == 3 else None
            name = user or ruser
            if name:
                event["user.name"] = name
            if ruser and user and ruser != user:
                event["shouwang.pam.ruser"] = ruser
            set_source(event, rhost)
        return True
    match = _SESSION.match(message)
    if match:
        service, state, user, by = match.groups()
        event["shouwang.pam.service"] = service
        event["event.action"] = f"session_{state}"
        event["event.category"] = ["session"]
        event["event.type"] = ["start" if state == "opened" else "end"]
        event["event.outcome"] = "success"
        event["user.name"] = user
        if by:
            event["user.effective.name"] = user
            event["user.name"] = by
        return True
    return False
