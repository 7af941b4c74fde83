"""Agent -> server channel: round trip, renewal, and each rejection a server operator would see."""
from __future__ import annotations

import pytest

from crypto.channel import ChannelReceiver, ChannelSender
from crypto.errors import Expired, Replayed, Tampered, UnknownSender, UnknownSession
from crypto.sm2 import SM2PrivateKey

SERVER = SM2PrivateKey.generate()
AGENT = SM2PrivateKey.generate()
INTRUDER = SM2PrivateKey.generate()


class Clock:
    def __init__(self, t=1_700_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


def _pair(clock=None, **kw):
    clock = clock or Clock()
    sender = ChannelSender(AGENT, SERVER.public_key, "agent-01", clock=clock, **kw)
    receiver = ChannelReceiver(SERVER, {"agent-01": AGENT.public_key}, window_secs=60,
                               clock=clock)
    return sender, receiver, clock


def test_round_trip_in_order_and_out_of_order():
    sender, receiver, _ = _pair()
    msgs = [sender.seal(f"batch {i}".encode()) for i in range(5)]
    assert receiver.open(msgs[0]) == ("agent-01", 0, b"batch 0")
    assert receiver.open(msgs[3]).payload == b"batch 3"
    assert receiver.open(msgs[1]).seq == 1  # late but inside the replay window


def test_payload_is_not_visible_on_the_wire():
    sender, _, _ = _pair()
    assert b"secret-password" not in sender.seal(b"user=root secret-password")


def test_replay_is_rejected():
    sender, receiver, _ = _pair()
    msg = sender.seal(b"x")
    receiver.open(msg)
    with pytest.raises(Replayed):
        receiver.open(msg)


def test_unknown_sender_and_wrong_signing_key():
    _, receiver, clock = _pair()
    stranger = ChannelSender(AGENT, SERVER.public_key, "agent-99", clock=clock)
    with pytest.raises(UnknownSender):
        receiver.open(stranger.seal(b"x"))
    impostor = ChannelSender(INTRUDER, SERVER.public_key, "agent-01", clock=clock)
    with pytest.raises(Tampered):
        receiver.open(impostor.seal(b"x"))


def test_every_flipped_byte_is_rejected():
    sender, receiver, _ = _pair()
    msg = sender.seal(b"payload " * 10)
    for pos in range(0, len(msg), 3):
        damaged = bytearray(msg)
        damaged[pos] ^= 0x01
        with pytest.raises((Tampered, UnknownSender, Expired, Replayed)) as info:
            receiver.open(bytes(damaged))
        assert info.type is not Replayed or pos > 0
    assert receiver.open(msg).payload == b"payload " * 10


def test_truncated_message_is_tampered():
    sender, receiver, _ = _pair()
    msg = sender.seal(b"payload")
    for cut in (1, 10, len(msg) // 2, len(msg) - 1):
        with pytest.raises(Tampered):
            receiver.open(msg[:cut] if cut > 7 else msg[:cut] + b"\x00" * 40)


def test_time_window():
    sender, receiver, clock = _pair()
    msg = sender.seal(b"x")
    clock.t += 61
    with pytest.raises(Expired):
        receiver.open(msg)


def test_renewal_by_time_and_volume():
    clock = Clock()
    sender, receiver, _ = _pair(clock, rekey_after_secs=10, rekey_after_bytes=100)
    first = sender.session_id
    receiver.open(sender.seal(b"a" * 60))
    receiver.open(sender.seal(b"a" * 60))  # crosses 100 bytes after this one
    receiver.open(sender.seal(b"a"))
    second = sender.session_id
    assert second != first
    clock.t += 11
    receiver.open(sender.seal(b"b"))
    assert sender.session_id not in (first, second)


def test_session_key_only_when_new_needs_the_first_message():
    sender, receiver, _ = _pair(announce_key_every=1000)
    first = sender.seal(b"1")
    second = sender.seal(b"2")
    assert len(second) < len(first) - 100
    with pytest.raises(UnknownSession):
        receiver.open(second)
    receiver.open(first)
    assert receiver.open(second).payload == b"2"


def test_message_for_another_server_is_rejected():
    clock = Clock()
    other_server = SM2PrivateKey.generate()
    sender = ChannelSender(AGENT, other_server.public_key, "agent-01", clock=clock)
    receiver = ChannelReceiver(SERVER, {"agent-01": AGENT.public_key}, 60, clock)
    with pytest.raises(Tampered):
        receiver.open(sender.seal(b"x"))


def test_replay_state_is_bounded_and_evicted_sessions_stay_closed():
    clock = Clock()
    sender = ChannelSender(AGENT, SERVER.public_key, "agent-01", clock=clock)
    receiver = ChannelReceiver(SERVER, {"agent-01": AGENT.public_key}, 60, clock,
                               max_sessions_per_agent=2)
    old = sender.seal(b"old session")
    receiver.open(old)
    for _ in range(5):
        sender.rekey()
        clock.t += 1
        receiver.open(sender.seal(b"x"))
    assert receiver.session_count() == 2
    with pytest.raises(Replayed):
        receiver.open(old)
