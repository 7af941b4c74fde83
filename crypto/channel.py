"""Agent -> server batch protection (TLCP-style ECC key transport, then SM4-GCM + SM2 signature).

Wire format (version 1; FORMAT.md section 4), all integers big-endian:
    "SWCH" | version u8 | flags u8 | agent_id (u8 len + UTF-8) | server key fingerprint (8)
    | session_id (16) | seq u64 | timestamp_ms u64
    | [flags & 1: u16 len + SM2Encrypt(server_pub, session_key || binding)]
    | u32 len + SM4-GCM(session_key, nonce = 0^4 || seq, AAD = every byte above)(payload)
    | u16 len + SM2Sign(agent_key, every byte above)
where binding = SM3("shouwang-channel-v1" || agent_id || session_id)[:16], so a session key
cannot be moved to another agent or session.

Receiver order of checks (cheap first, state changes last): format, known agent
(``UnknownSender``), time window (``Expired``), signature (``Tampered``), replay window
(``Replayed``), session key (``UnknownSession``/``Tampered``), GCM tag (``Tampered``); only then is
the sequence number recorded. Replay state is bounded: per agent at most
``max_sessions_per_agent`` sessions of a ``replay_window``-bit sliding window; evicting a session
raises that agent's timestamp floor past everything the session accepted, so an evicted session
cannot be replayed either. Sessions idle longer than twice the time window are dropped (their
messages would be ``Expired`` anyway).

Renewal: the sender starts a new session (fresh SM4 key, new session id, seq 0) after
``rekey_after_secs`` or ``rekey_after_bytes``. The encrypted session key is carried in the first
message of a session and then every ``announce_key_every`` messages (default: every message,
~120 bytes), so a lost first message or a server restart does not strand a session; the
receiver decrypts it once per session. SECURITY.md states what this does and does not promise
(no forward secrecy).
"""
from __future__ import annotations

import collections
import os
import struct
import threading
import time
from typing import Callable, Iterable, NamedTuple

from crypto.errors import (Expired, Replayed, Tampered, UnknownSender,
                           UnknownSession, WrongKeyError, IntegrityError)
from crypto.secret import MASK
from crypto.sm2 import SM2PrivateKey, SM2PublicKey
from crypto.sm3 import sm3
from crypto.sm4 import gcm_decrypt, gcm_encrypt

MAGIC = b"SWCH"
VERSION = 1
FLAG_KEY = 0x01
_FIXED = struct.Struct(">8s16sQQ")  # server fp, session id, seq, timestamp ms
_BINDING_LABEL = b"shouwang-channel-v1"
MAX_MESSAGE = 64 << 20


class Opened(NamedTuple):
    agent_id: str
    seq: int
    payload: bytes


def _binding(agent_id: bytes, session_id: bytes) -> bytes:
    return sm3(_BINDING_LABEL + agent_id + session_id)[:16]


def _nonce(seq: int) -> bytes:
    return b"\x00\x00\x00\x00" + seq.to_bytes(8, "big")


class ChannelSender:
    """Seals batches from one agent to one server. Not thread-safe: one sender per shipper."""

    def __init__(self, agent_identity: SM2PrivateKey, server_public_key: SM2PublicKey,
                 agent_id: str, *, rekey_after_secs: float = 3600.0,
                 rekey_after_bytes: int = 1 << 30, announce_key_every: int = 1,
                 clock: Callable[[], float] = time.time):
        self._identity = agent_identity
        self._server = server_public_key
        self._server_fp = bytes.fromhex(server_public_key.fingerprint())
        self._agent = agent_id.encode()
        if not 1 <= len(self._agent) <= 255:
            raise ValueError("agent id must be 1..255 bytes")
        self._rekey_secs = rekey_after_secs
        self._rekey_bytes = rekey_after_bytes
        self._announce_every = max(1, announce_key_every)
        self._clock = clock
        self._session_key = b""
        self._new_session()

    def __repr__(self):
        return f"ChannelSender(agent={self._agent.decode()!r}, session_key={MASK})"

    @property
    def session_id(self) -> bytes:
        return self._session_id

    def _new_session(self) -> None:
        self._session_key = os.urandom(16)
        self._session_id = os.urandom(16)
        self._seq = 0
        self._bytes = 0
        self._started = self._clock()
        self._key_blob = self._server.encrypt(
            self._session_key + _binding(self._agent, self._session_id))

    def rekey(self) -> None:
        """Start a new session now (new key, new id)."""
        self._new_session()

    def seal(self, payload: bytes) -> bytes:
        now = self._clock()
        if (now - self._started >= self._rekey_secs or self._bytes >= self._rekey_bytes
                or self._seq >= 1 << 48):
            self._new_session()
        seq = self._seq
        carry = seq % self._announce_every == 0
        head = (MAGIC + bytes([VERSION, FLAG_KEY if carry else 0, len(self._agent)]) + self._agent
                + _FIXED.pack(self._server_fp, self._session_id, seq, int(now * 1000)))
        if carry:
            head += len(self._key_blob).to_bytes(2, "big") + self._key_blob
        sealed = gcm_encrypt(self._session_key, _nonce(seq), payload, head)
        body = head + len(sealed).to_bytes(4, "big") + sealed
        sig = self._identity.sign(body)
        self._seq += 1
        self._bytes += len(payload)
        return body + len(sig).to_bytes(2, "big") + sig


class _Parsed(NamedTuple):
    agent: bytes
    server_fp: bytes
    session_id: bytes
    seq: int
    ts_ms: int
    key_blob: bytes | None
    aad: bytes
    sealed: bytes
    signed: bytes
    sig: bytes


def _parse(message: bytes) -> _Parsed:
    try:
        if len(message) > MAX_MESSAGE:
            raise Tampered("channel message too large")
        if message[:4] != MAGIC:
            raise Tampered("not a Shouwang channel message (bad magic)")
        if message[4] != VERSION:
            raise Tampered(f"unsupported channel version {message[4]}")
        flags, alen = message[5], message[6]
        if flags & ~FLAG_KEY:
            raise Tampered("unknown channel flags")
        pos = 7
        agent = message[pos:pos + alen]
        pos += alen
        server_fp, session_id, seq, ts_ms = _FIXED.unpack_from(message, pos)
        pos += _FIXED.size
        key_blob = None
        if flags & FLAG_KEY:
            klen = int.from_bytes(message[pos:pos + 2], "big")
            key_blob = message[pos + 2:pos + 2 + klen]
            pos += 2 + klen
            if len(key_blob) != klen:
                raise IndexError
        aad = message[:pos]
        clen = int.from_bytes(message[pos:pos + 4], "big")
        sealed = message[pos + 4:pos + 4 + clen]
        pos += 4 + clen
        if len(sealed) != clen:
            raise IndexError
        signed = message[:pos]
        slen = int.from_bytes(message[pos:pos + 2], "big")
        sig = message[pos + 2:pos + 2 + slen]
        if len(sig) != slen or pos + 2 + slen != len(message) or len(agent) != alen:
            raise IndexError
    except (IndexError, struct.error):
        raise Tampered("channel message is truncated or malformed") from None
    return _Parsed(agent, server_fp, session_id, seq, ts_ms, key_blob, aad, sealed, signed, sig)


class _Session:
    __slots__ = ("key", "highest", "bitmap", "last_ts")

    def __init__(self, key: bytes):
        self.key = key
        self.highest = -1
        self.bitmap = 0
        self.last_ts = 0.0


class ChannelReceiver:
    """Opens batches on the server. Thread-safe. Raises a ``ChannelError`` subclass on reject."""

    def __init__(self, server_identity: SM2PrivateKey | Iterable[SM2PrivateKey],
                 trusted_agent_keys: dict[str, SM2PublicKey], window_secs: float = 300.0,
                 clock: Callable[[], float] = time.time, *, max_sessions_per_agent: int = 4,
                 replay_window: int = 1024):
        identities = ([server_identity] if isinstance(server_identity, SM2PrivateKey)
                      else list(server_identity))
        self._identities = {bytes.fromhex(k.public_key.fingerprint()): k for k in identities}
        self._agents = {a.encode(): k for a, k in trusted_agent_keys.items()}
        self._window = window_secs
        self._clock = clock
        self._max_sessions = max(1, max_sessions_per_agent)
        self._replay_window = replay_window
        self._sessions: dict[bytes, collections.OrderedDict[bytes, _Session]] = {}
        self._floor: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def __repr__(self):
        return f"ChannelReceiver(agents={len(self._agents)}, {MASK})"

    def session_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._sessions.values())

    def open(self, message: bytes) -> Opened:
        msg = _parse(message)
        agent_id = msg.agent.decode("utf-8", "replace")
        agent_key = self._agents.get(msg.agent)
        if agent_key is None:
            raise UnknownSender(f"agent {agent_id!r} is not trusted")
        server = self._identities.get(msg.server_fp)
        if server is None:
            raise Tampered(f"message from {agent_id!r} is addressed to another server key")
        now = self._clock()
        ts = msg.ts_ms / 1000
        if abs(now - ts) > self._window:
            raise Expired(f"message from {agent_id!r} is {now - ts:+.0f} s off the server clock "
                          f"(window {self._window:.0f} s)")
        if not agent_key.verify(msg.signed, msg.sig):
            raise Tampered(f"signature of agent {agent_id!r} does not verify")
        with self._lock:
            self._prune(msg.agent, now)
            session = self._sessions.get(msg.agent, {}).get(msg.session_id)
            if session is None and ts <= self._floor.get(msg.agent, 0.0):
                raise Replayed(f"message from {agent_id!r} belongs to an evicted session")
            if session is not None:
                self._check_replay(session, msg.seq, agent_id)
        key = session.key if session is not None else self._session_key(server, msg, agent_id)
        try:
            payload = gcm_decrypt(key, _nonce(msg.seq), msg.sealed, msg.aad)
        except IntegrityError:
            raise Tampered(f"batch from {agent_id!r} failed authentication") from None
        with self._lock:
            session = self._admit(msg.agent, msg.session_id, key)
            self._check_replay(session, msg.seq, agent_id)  # again: another thread may have won
            self._record(session, msg.seq, ts)
        return Opened(agent_id, msg.seq, payload)

    # ------------------------------------------------------------ internals
    def _session_key(self, server: SM2PrivateKey, msg: _Parsed, agent_id: str) -> bytes:
        if msg.key_blob is None:
            raise UnknownSession(f"no key for session {msg.session_id.hex()[:8]} of "
                                 f"{agent_id!r}; the sender must re-announce it")
        try:
            plain = server.decrypt(msg.key_blob)
        except WrongKeyError:
            raise Tampered(f"session key from {agent_id!r} does not decrypt") from None
        if len(plain) != 32 or plain[16:] != _binding(msg.agent, msg.session_id):
            raise Tampered(f"session key from {agent_id!r} is bound to another session")
        return plain[:16]

    def _check_replay(self, session: _Session, seq: int, agent_id: str) -> None:
        if seq > session.highest:
            return
        offset = session.highest - seq
        if offset >= self._replay_window or session.bitmap >> offset & 1:
            raise Replayed(f"sequence {seq} from {agent_id!r} was already accepted or is too old")

    def _record(self, session: _Session, seq: int, ts: float) -> None:
        if seq > session.highest:
            shift = seq - session.highest
            session.bitmap = ((session.bitmap << shift) | 1) & ((1 << self._replay_window) - 1)
            session.highest = seq
        else:
            session.bitmap |= 1 << (session.highest - seq)
        session.last_ts = max(session.last_ts, ts)

    def _admit(self, agent: bytes, session_id: bytes, key: bytes) -> _Session:
        sessions = self._sessions.setdefault(agent, collections.OrderedDict())
        session = sessions.get(session_id)
        if session is None:
            session = sessions[session_id] = _Session(key)
            while len(sessions) > self._max_sessions:
                _, evicted = sessions.popitem(last=False)
                self._floor[agent] = max(self._floor.get(agent, 0.0), evicted.last_ts)
        sessions.move_to_end(session_id)
        return session

    def _prune(self, agent: bytes, now: float) -> None:
        sessions = self._sessions.get(agent)
        if not sessions:
            return
        for sid in [s for s, v in sessions.items() if now - v.last_ts > 2 * self._window
                    and v.highest >= 0]:
            self._floor[agent] = max(self._floor.get(agent, 0.0), sessions.pop(sid).last_ts)
