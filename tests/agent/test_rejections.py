"""A real `shouwang run` refuses unknown, replayed, tampered and malformed agent batches with
a 4xx, counts each by reason, and stores nothing of them."""
import httpx
import pytest

from collectors.agent.codec import CONTENT_TYPE, encode_batch
from crypto.channel import ChannelSender
from crypto.sm2 import SM2PrivateKey
from tests.agent.support import (AGENT_ID, AGENT_TOKEN, free_port, make_key, server,
                                 server_config, server_metrics, stored)

URL_PATH = "/api/v1/agent/batches"
VIEWER_TOKEN = "viewer-token-for-e2e-only-012345"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rejections")
    agent_key, agent_pub = make_key(tmp, "agent")
    server_key, server_pub = make_key(tmp, "server")
    port = free_port()
    data = tmp / "server"
    config = server_config(tmp / "server.yaml", data_dir=data, port=port, server_key=server_key,
                           trusted={AGENT_ID: agent_pub})
    with server(config, port) as monitor:
        yield {"monitor": monitor, "data": data,
               "agent": SM2PrivateKey.from_pem(agent_key.read_bytes()),
               "server_pub": SM2PrivateKey.from_pem(server_key.read_bytes()).public_key}


def post(env, body: bytes, *, token=AGENT_TOKEN, content_type=CONTENT_TYPE) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(env["monitor"].url + URL_PATH, content=body, headers=headers, timeout=10)


def batch(messages: list[str]) -> bytes:
    return encode_batch([{"message": m, "event.dataset": "probe"} for m in messages])


def rejected(env, reason: str) -> float:
    return server_metrics(env["monitor"]).get(
        f'shouwang_agent_batches_rejected_total{{reason="{reason}"}}', 0.0)


def test_a_sealed_batch_is_stored_and_its_replay_refused(env):
    sender = ChannelSender(env["agent"], env["server_pub"], AGENT_ID)
    message = sender.seal(batch(["good-1", "good-2"]))
    first = post(env, message)
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == 2
    assert stored(env["data"], "probe")["good-1"] == 1
    again = post(env, message)
    assert again.status_code == 409
    assert again.json()["detail"]["reason"] == "replayed"
    assert rejected(env, "replayed") == 1
    assert stored(env["data"], "probe")["good-1"] == 1


def test_a_tampered_batch_is_refused(env):
    sender = ChannelSender(env["agent"], env["server_pub"], AGENT_ID)
    message = bytearray(sender.seal(batch(["tampered"])))
    message[-80] ^= 0x01  # inside the ciphertext or the signature
    before = rejected(env, "tampered")
    answer = post(env, bytes(message))
    assert answer.status_code == 400
    assert answer.json()["detail"]["reason"] == "tampered"
    assert rejected(env, "tampered") == before + 1
    assert "tampered" not in stored(env["data"], "probe")


def test_an_unknown_agent_is_refused(env):
    intruder = ChannelSender(SM2PrivateKey.generate(), env["server_pub"], "intruder")
    answer = post(env, intruder.seal(batch(["intruder"])))
    assert answer.status_code == 403
    assert "intruder" in answer.json()["error"]
    assert rejected(env, "unknown_agent") == 1
    # A known id with the wrong key is an impostor: its signature does not verify.
    impostor = ChannelSender(SM2PrivateKey.generate(), env["server_pub"], AGENT_ID)
    assert post(env, impostor.seal(batch(["impostor"]))).status_code == 400
    assert not {"intruder", "impostor"} & set(stored(env["data"], "probe"))


def test_a_batch_for_another_server_key_or_too_old_is_refused(env):
    elsewhere = ChannelSender(env["agent"], SM2PrivateKey.generate().public_key, AGENT_ID)
    assert post(env, elsewhere.seal(batch(["elsewhere"]))).json()["detail"]["reason"] == \
        "tampered"
    stale = ChannelSender(env["agent"], env["server_pub"], AGENT_ID,
                          clock=lambda: 1_000_000_000.0)
    answer = post(env, stale.seal(batch(["stale"])))
    assert answer.status_code == 400
    assert answer.json()["detail"]["reason"] == "expired"


def test_garbage_and_a_payload_that_is_not_a_batch_are_refused(env):
    assert post(env, b"not a channel message").json()["detail"]["reason"] == "tampered"
    sender = ChannelSender(env["agent"], env["server_pub"], AGENT_ID)
    answer = post(env, sender.seal(b'{"message": "plain json, not zstd"}\n'))
    assert answer.status_code == 400
    assert answer.json()["detail"]["reason"] == "bad_payload"
    assert rejected(env, "bad_payload") == 1


def test_the_agent_token_and_content_type_are_required(env):
    sender = ChannelSender(env["agent"], env["server_pub"], AGENT_ID)
    body = sender.seal(batch(["auth"]))
    assert post(env, body, token=None).status_code == 401
    assert post(env, body, token=VIEWER_TOKEN).status_code == 403
    answer = post(env, body, content_type="application/x-ndjson")
    assert answer.status_code == 415
    assert rejected(env, "content_type") == 1
    assert "auth" not in stored(env["data"], "probe")
    # The same sealed batch, still unused, goes through once everything is right.
    assert post(env, body).status_code == 200


def test_bad_lines_inside_a_good_batch_are_counted_not_fatal(env):
    sender = ChannelSender(env["agent"], env["server_pub"], AGENT_ID)
    import zstandard

    payload = zstandard.ZstdCompressor().compress(
        b'{"message": "fine-line", "event.dataset": "probe"}\n[1, 2]\nnot json\n')
    answer = post(env, sender.seal(payload))
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 1 and answer.json()["rejected"] == 2
    assert stored(env["data"], "probe")["fine-line"] == 1
