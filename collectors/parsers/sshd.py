"""OpenSSH server messages (the part after "sshd[pid]: ") -> authentication events.

Fills event.action, event.category [authentication] (network for pre-auth protocol noise),
event.outcome failure|success|unknown, user.name, source.ip|domain, source.port.

Injection rules (fail2ban's samples exercise them): user names are client-controlled and may
contain " from 1.2.3.4 port 22 ssh2"; the real address is the one sshd appends, so patterns take
the user up to the LAST "from ADDR [port N] [sshN]" that ends the message, or up to the first one
when sshd's own ": <auth info>" suffix follows.

Messages without an address ("Disconnecting: Too many authentication failures", "fatal: Unable
to negotiate a key exchange method", kex_exchange_identification errors) take it from an earlier
line of the same sshd process ("Connection from ADDR port N"); this memory is bounded (LRU).
A process whose failure had no address yet marks its next "Connection closed by ADDR" a failure.
"""
from __future__ import annotations

import re
from itertools import islice

from collectors.parsers.base import set_source

# sshd processes remembered: the newest 10,000 at least, 20,000 at most
MEMORY_MAX_PIDS = 20_000

AUTH = ["authentication"]
NETWORK = ["network"]
_PORT = r"(?: port (\d+))?"
_END = r"(?: on \S+ port \d+)?(?: rdomain \S*)?"

# (first word, regex, action, category, outcome, user group, address group, port group)
_FAILED_STRICT = re.compile(
    r"Failed (\S+) for (invalid user |illegal user )?((?:(?! from ).)*) from (\S+)" + _PORT
    + r"(?: (ssh[12]))?(?:: (.*))?$")
_FAILED_GREEDY = re.compile(
    r"Failed (\S+) for (invalid user |illegal user )?(.*) from (\S+)" + _PORT
    + r"(?: (ssh[12]))?$")
_ACCEPTED = re.compile(r"Accepted (\S+) for (.*) from (\S+)" + _PORT + r"(?: (ssh[12]))?(?:: .*)?$")
_INVALID = re.compile(r"(?:Invalid|Illegal) user (.*) from (\S+)" + _PORT + "$")
_CLOSED = re.compile(
    r"Connection (closed|reset) by (?:(authenticating|invalid) user (.*) (\S+) port (\d+)"
    r"|(\S+)" + _PORT + ")$")
_DISCONNECTED = re.compile(
    r"Disconnected from (?:(authenticating |invalid )?user (.*) (\S+) port (\d+)"
    r"|(\S+)" + _PORT + ")$")
# A kernel-style prefix some journal exports put before the message.
_KERNEL_PREFIX = re.compile(r"kernel: ?\[\s*\d+\.\d+\]:? ")
_RECEIVED_DISCONNECT = re.compile(
    r"Received disconnect from (\S+?)(?: port (\d+))?: ?(\d+): (.*)$")
_DISCONNECTING = re.compile(
    r"Disconnecting(?: (authenticating|invalid) user (.*) (\S+) port (\d+))?: (.*)$")
_MAX_ATTEMPTS = re.compile(
    r"maximum authentication attempts exceeded for (?:invalid user )?(.*) from (\S+)" + _PORT)
_ROOT_REFUSED = re.compile(r"ROOT LOGIN REFUSED FROM (\S+)" + _PORT)
_NOT_ALLOWED = re.compile(r"User (.*) from (\S+) not allowed because (.*)$")
_REFUSED_CONNECT = re.compile(r"refused connect from (\S*) \((\S+)\)")
_PAM_FAILURE = re.compile(
    r"PAM: (?:[Aa]uthentication (?:failure|error)|User not known to the underlying "
    r"authentication module) for (?:illegal user |invalid user )?(.*) from (\S+)(?: via \S+)?\s*$")
_NO_IDENT = re.compile(r"Did not receive identification string from (\S+)" + _PORT)
_BAD_VERSION = re.compile(r"Bad protocol version identification '(.*)' from (\S+)" + _PORT + "$")
_UNABLE = re.compile(r"Unable to negotiate with (\S+)" + _PORT + r": (.*)$")
_CONNECTION_FROM = re.compile(r"Connection from (\S+)" + _PORT + _END + "$")
_BANNER = re.compile(r"banner exchange: Connection from (\S+)" + _PORT + r": (.*)$")
_SSH_REMOTE = re.compile(r"SSH: Server;Ltype: \w+;Remote: (\S+)-(\d+);")
_POSTPONED = re.compile(r"Postponed (\S+) for (.*) from (\S+)" + _PORT)


class SshdMessages:
    """Stateful per stream: remembers the client address of recent sshd processes."""

    programs = ("sshd", "sshd-session", "sshd-auth")

    def __init__(self):
        # A plain dict kept in insertion order, trimmed by halves: OrderedDict.popitem cost
        # ~0.5 us per line when every line brings a new process (a brute force).
        self._memory: dict[tuple, list] = {}

    # The memory maps (host, pid) -> [address, port, failure_waiting_for_address].
    def _remember(self, key, address, port) -> None:
        memory = self._memory
        entry = memory.pop(key, None)           # re-inserted: the newest go last
        if entry is None:
            entry = [address, port, False]
            if len(memory) >= MEMORY_MAX_PIDS:
                self._memory = memory = dict(islice(memory.items(), MEMORY_MAX_PIDS // 2, None))
        else:
            entry[0], entry[1] = address, port
        memory[key] = entry

    def fill(self, event: dict, message: str, pid: str | None, host: str | None) -> bool:
        text = message
        prefix = ""
        if text.startswith("kernel:"):
            kernel = _KERNEL_PREFIX.match(text)
            if kernel:
                text = text[kernel.end():]
        if text.startswith("[ID "):  # Solaris: "[ID 800047 auth.info] Failed ..."
            end = text.find("] ")
            if end > 0:
                text = text[end + 2:]
        if text.startswith(("error: ", "fatal: ")):
            prefix, text = text[:5], text[7:]
        preauth = text.endswith(" [preauth]")
        if preauth:
            text = text[:-10]
        key = (host, pid) if pid else None
        result = self._classify(text, preauth, prefix)
        if result is None:
            event["event.category"] = ["authentication"] if "user" in text else ["network"]
            event["event.action"] = "ssh_" + (prefix or "message")
            event["event.outcome"] = "unknown"
            return False
        action, category, outcome, user, address, port = result
        event["event.action"] = action
        event["event.category"] = list(category)  # a fresh list: events may be edited later
        event["event.type"] = ["start"] if category is AUTH else ["connection"]
        if user is not None:
            event["user.name"] = user
        if key is not None:
            if address:
                entry = self._memory.get(key)
                if entry is not None and entry[2] and action == "ssh_connection_closed":
                    outcome = "failure"  # an earlier failure of this process had no address
                    entry[2] = False
                self._remember(key, address, port)
            else:
                entry = self._memory.get(key)
                if entry is not None:
                    address, port = entry[0], entry[1]
                elif outcome == "failure":
                    self._remember(key, None, None)
                    self._memory[key][2] = True
            if action in ("ssh_login", "ssh_session") and outcome == "success":
                pass  # keep the address: later lines of a session still come from it
        event["event.outcome"] = outcome
        if address:
            set_source(event, address.rstrip(":"), port)
        if preauth:
            event["shouwang.ssh.preauth"] = True
        return True

    @staticmethod
    def _classify(text: str, preauth: bool, prefix: str):
        """(action, category, outcome, user, address, port) or None."""
        first = text[:text.find(" ")] if " " in text else text
        if first == "Failed":
            match = _FAILED_STRICT.match(text) or _FAILED_GREEDY.match(text)
            if match:
                return ("ssh_login", AUTH, "failure", match.group(3), match.group(4),
                        match.group(5))
        elif first == "Accepted":
            match = _ACCEPTED.match(text)
            if match:
                return "ssh_login", AUTH, "success", match.group(2), match.group(3), match.group(4)
        elif first in ("Invalid", "Illegal"):
            match = _INVALID.match(text)
            if match:
                return ("ssh_invalid_user", AUTH, "failure", match.group(1), match.group(2),
                        match.group(3))
        elif first == "Connection":
            match = _CLOSED.match(text)
            if match:
                kind, who, user, address, port, bare_address, bare_port = match.groups()
                address = address or bare_address
                port = port or bare_port
                failed = preauth or who is not None
                action = "ssh_connection_closed" if kind == "closed" else "ssh_connection_reset"
                return (action, AUTH if who else NETWORK, "failure" if failed else "unknown",
                        user, address, port)
            match = _CONNECTION_FROM.match(text)
            if match:
                return ("ssh_connection", NETWORK, "unknown", None, match.group(1),
                        match.group(2))
        elif first == "Disconnected":
            match = _DISCONNECTED.match(text)
            if match:
                who, user, address, port, bare_address, bare_port = match.groups()
                address = address or bare_address
                port = port or bare_port
                failed = preauth or who is not None
                return ("ssh_disconnected", AUTH if user is not None else NETWORK,
                        "failure" if failed else "unknown", user, address, port)
        elif first == "Received":
            match = _RECEIVED_DISCONNECT.match(text)
            if match:
                address, port, code, reason = match.groups()
                failed = preauth or code in ("3", "14") or "Auth fail" in reason
                return ("ssh_disconnect_received", AUTH, "failure" if failed else "unknown",
                        None, address, port)
        elif first in ("Disconnecting:", "Disconnecting"):
            match = _DISCONNECTING.match(text)
            if match:
                _who, user, address, port, reason = match.groups()
                if user is None and "for " in reason:
                    user = reason.rsplit("for ", 1)[1]
                failed = "authentication failures" in reason or _who is not None or preauth
                return ("ssh_disconnecting", AUTH, "failure" if failed else "unknown", user,
                        address, port)
        elif first == "maximum":
            match = _MAX_ATTEMPTS.match(text)
            if match:
                return ("ssh_max_auth_attempts", AUTH, "failure", match.group(1),
                        match.group(2), match.group(3))
        elif first == "ROOT":
            match = _ROOT_REFUSED.match(text)
            if match:
                return "ssh_root_refused", AUTH, "failure", "root", match.group(1), match.group(2)
        elif first == "User":
            match = _NOT_ALLOWED.match(text)
            if match:
                return "ssh_user_not_allowed", AUTH, "failure", match.group(1), match.group(2), None
        elif first == "refused":
            match = _REFUSED_CONNECT.match(text)
            if match:
                return "ssh_connect_refused", NETWORK, "failure", None, match.group(2), None
        elif first == "PAM:":
            match = _PAM_FAILURE.match(text)
            if match:
                return "ssh_login", AUTH, "failure", match.group(1), match.group(2), None
        elif first == "Did":
            match = _NO_IDENT.match(text)
            if match:
                return ("ssh_no_identification", NETWORK, "failure", None, match.group(1),
                        match.group(2))
        elif first == "Bad":
            match = _BAD_VERSION.match(text)
            if match:
                return ("ssh_bad_protocol", NETWORK, "failure", None, match.group(2),
                        match.group(3))
        elif first == "Unable":
            match = _UNABLE.match(text)
            if match:
                return ("ssh_negotiation_failed", NETWORK, "failure", None, match.group(1),
                        match.group(2))
            if text.startswith("Unable to negotiate"):
                return "ssh_negotiation_failed", NETWORK, "failure", None, None, None
        elif first == "banner":
            match = _BANNER.match(text)
            if match:
                return ("ssh_bad_banner", NETWORK, "failure", None, match.group(1),
                        match.group(2))
        elif first == "kex_exchange_identification:":
            return "ssh_kex_failed", NETWORK, "failure", None, None, None
        elif first == "SSH:":
            match = _SSH_REMOTE.match(text)
            if match:
                return "ssh_connection", NETWORK, "unknown", None, match.group(1), match.group(2)
        elif first == "Postponed":
            match = _POSTPONED.match(text)
            if match:
                return ("ssh_auth_postponed", AUTH, "unknown", match.group(2), match.group(3),
                        match.group(4))
        if prefix == "fatal" and (text.startswith(("no matching", "Read from socket failed"))
                                  or "negotiate" in text):
            return "ssh_negotiation_failed", NETWORK, "failure", None, None, None
        return None
