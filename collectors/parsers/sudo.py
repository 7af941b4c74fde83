"""sudo and su messages.

sudo: "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls -l" (success) and
"alice : 3 incorrect password attempts ; TTY=... ; USER=root ; COMMAND=..." or
"alice : user NOT in sudoers ; ..." (failure). user.name is who ran sudo,
user.effective.name the target user, process.command_line the command.

su: "(to root) alice on pts/0", "FAILED SU (to root) alice on pts/0", "Successful su for root
by alice", "FAILED su for root by alice", "+ pts/0 alice:root", "- pts/0 alice:root".
"""
from __future__ import annotations

import re

_SUDO = re.compile(r"\s*(\S+) : (?:(.*?) ; )?(TTY=.*)$")
_SU = (
    (re.compile(r"(FAILED SU )?\(to (\S+)\) (\S+) on (\S+)"), 1, 2, 3),
    (re.compile(r"(FAILED su|Successful su) for (\S+) by (\S+)"), 1, 2, 3),
    (re.compile(r"([+-]) (\S+) (\S+?):(\S+)$"), 1, 4, 3),
)


def fill_sudo(event: dict, message: str) -> bool:
    match = _SUDO.match(message)
    if match is None:
        return False
    user, reason, rest = match.groups()
    fields = {}
    for part in rest.split(" ; "):
        key, _, value = part.partition("=")
        fields[key] = value
    event["user.name"] = user
    if "USER" in fields:
        event["user.effective.name"] = fields["USER"]
    if "COMMAND" in fields:
        event["process.command_line"] = fields["COMMAND"]
    if "PWD" in fields:
        event["process.working_directory"] = fields["PWD"]
    if "TTY" in fields:
        event["shouwang.tty"] = fields["TTY"]
    event["event.category"] = ["process", "authentication"] if reason else ["process"]
    event["event.type"] = ["start"]
    if reason:
        event["event.action"] = "sudo_failure"
        event["event.outcome"] = "failure"
        event["error.message"] = reason
        if "incorrect password" in reason:
            attempts = reason.split(" ", 1)[0]
            if attempts.isdigit():
                event["shouwang.sudo.failed_attempts"] = int(attempts)
    else:
        event["event.action"] = "sudo_command"
        event["event.outcome"] = "success"
    return True


def fill_su(event: dict, message: str) -> bool:
    for pattern, status_group, target_group, user_group in _SU:
        match = pattern.match(message)
        if match is None:
            continue
        status = match.group(status_group) or ""
        failed = status.startswith("FAILED") or status == "-"
        event["user.name"] = match.group(user_group)
        event["user.effective.name"] = match.group(target_group)
        event["event.action"] = "su"
        event["event.category"] = ["authentication"]
        event["event.type"] = ["start"]
        event["event.outcome"] = "failure" if failed else "success"
        return True
    return False
