"""DingTalk, WeCom and Feishu robots against local servers that check what the real services
check: the signature (each vendor's own scheme and time unit), the token/key, the message
schema and the content limit, answering with the vendors' own success and error shapes."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from alerting.model import AlertState
from alerting.receivers.base import ReceiverError
from alerting.receivers.catalog import build_receiver
from tests.alerting.test_receivers_support import (LocalHttpServer, make_alert, make_context,
                                                   make_notification, metric)

TOKEN, SECRET, KEY, HOOK = "ding-token-1", "SECdingsecret", "wecom-key-1", "feishu-hook-1"
NO_LIMIT = {"enabled": False}


@pytest.fixture
def secrets(monkeypatch):
    for name, value in {"DING_TOKEN": TOKEN, "DING_SECRET": SECRET, "WECOM_KEY": KEY,
                        "FEISHU_HOOK": HOOK, "FEISHU_SECRET": SECRET}.items():
        monkeypatch.setenv(name, value)


# -- DingTalk ----------------------------------------------------------------------------------
def dingtalk_answer(request):
    """The robot's checks: token, then 加签 (ms timestamp within an hour, HMAC over
    ts\\nsecret keyed by the secret), then a markdown body."""
    if request.path != "/robot/send" or request.query.get("access_token") != [TOKEN]:
        return 200, {"errcode": 300001, "errmsg": "token is not exist"}
    timestamp = request.query.get("timestamp", ["0"])[0]
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    if (abs(int(timestamp) - time.time() * 1000) > 3600_000
            or request.query.get("sign") != [expected]):
        return 200, {"errcode": 310000, "errmsg": "sign not match"}
    body = request.json()
    if body.get("msgtype") != "markdown" or not body["markdown"].get("title") \
            or not body["markdown"].get("text"):
        return 200, {"errcode": 40035, "errmsg": "缺少参数 json"}
    return 200, {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def dingtalk():
    server = LocalHttpServer(dingtalk_answer)
    yield server
    server.close()


def ding_settings(server, **extra):
    return {"type": "dingtalk", "url": server.url + "/robot/send", "access_token":
            "env:DING_TOKEN", "secret": "env:DING_SECRET", "rate_limit": NO_LIMIT, **extra}


async def test_dingtalk_signed_markdown_accepted_and_critical_mentions(dingtalk, secrets):
    ctx = make_context()
    receiver = build_receiver("ding", ding_settings(dingtalk, at_mobiles=["13800000000"]), ctx)
    await receiver.send(make_notification(make_alert(severity="critical")))
    body = dingtalk.requests[0].json()
    assert body["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    assert body["markdown"]["text"].rstrip().endswith("@13800000000")
    assert body["markdown"]["title"].startswith("[告警:1] SSH brute force")
    assert "特别重大" in body["markdown"]["text"]
    assert metric(ctx, "shouwang_receiver_messages_sent_total", receiver="ding",
                  type="dingtalk") == 1
    # a medium alert pings nobody
    await receiver.send(make_notification(make_alert(severity="medium")))
    assert dingtalk.requests[1].json()["at"]["atMobiles"] == []


async def test_dingtalk_wrong_secret_is_refused_not_retryable(dingtalk, secrets, monkeypatch):
    monkeypatch.setenv("DING_SECRET", "SECwrong")
    receiver = build_receiver("ding", ding_settings(dingtalk), make_context())
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification())
    assert "310000" in str(failure.value) and not failure.value.retryable
    assert TOKEN not in str(failure.value) and "SECwrong" not in str(failure.value)


async def test_dingtalk_feishu_style_seconds_timestamp_is_refused(dingtalk, secrets):
    # A clock in seconds where DingTalk wants milliseconds: the sign check fails.
    receiver = build_receiver("ding", ding_settings(dingtalk),
                              make_context(clock=lambda: time.time() / 1000))
    with pytest.raises(ReceiverError, match="310000"):
        await receiver.send(make_notification())


async def test_dingtalk_busy_errcode_is_retryable():
    server = LocalHttpServer(lambda r: (200, {"errcode": 130101, "errmsg": "send too fast"}))
    try:
        receiver = build_receiver("ding", {"type": "dingtalk", "url": server.url,
                                           "access_token": "env:HOME",
                                           "rate_limit": NO_LIMIT}, make_context())
        with pytest.raises(ReceiverError) as failure:
            await receiver.send(make_notification())
        assert failure.value.retryable
    finally:
        server.close()


# -- WeCom -------------------------------------------------------------------------------------
def wecom_answer(request):
    if request.query.get("key") != [KEY]:
        return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
    body = request.json()
    content = body.get("markdown", {}).get("content", "")
    if body.get("msgtype") != "markdown" or not content:
        return 200, {"errcode": 40008, "errmsg": "invalid message type"}
    if len(content.encode("utf-8")) > 4096:
        return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
    return 200, {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def wecom():
    server = LocalHttpServer(wecom_answer)
    yield server
    server.close()


async def test_wecom_markdown_accepted_and_mentions(wecom, secrets):
    receiver = build_receiver("wx", {"type": "wecom", "url": wecom.url, "key": "env:WECOM_KEY",
                                     "mention_userids": ["zhangsan"], "rate_limit": NO_LIMIT},
                              make_context())
    await receiver.send(make_notification(make_alert()))
    content = wecom.requests[0].json()["markdown"]["content"]
    assert content.startswith("### [告警:1] SSH brute force")
    assert content.endswith("<@zhangsan>")


async def test_wecom_long_content_cut_to_4096_bytes_on_a_character_boundary(wecom, secrets):
    receiver = build_receiver("wx", {"type": "wecom", "url": wecom.url, "key": "env:WECOM_KEY",
                                     "mention_userids": ["lisi"], "rate_limit": NO_LIMIT,
                                     "templates": {"max_alerts_listed": 200}},
                              make_context())
    alerts = [make_alert(f"规则{i}", annotations={"summary": "异常登录" * 20}) for i in range(60)]
    await receiver.send(make_notification(*alerts))          # the fake refuses > 4096 bytes
    raw = wecom.requests[0].body
    content = wecom.requests[0].json()["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096 and content.endswith("<@lisi>")
    assert "…" in content
    raw.decode("utf-8")                                       # strict: no broken character


async def test_wecom_bad_key_not_retryable_and_key_masked(wecom, secrets, monkeypatch):
    monkeypatch.setenv("WECOM_KEY", "other-key")
    receiver = build_receiver("wx", {"type": "wecom", "url": wecom.url, "key": "env:WECOM_KEY",
                                     "rate_limit": NO_LIMIT}, make_context())
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification())
    assert "93000" in str(failure.value) and not failure.value.retryable
    assert "other-key" not in str(failure.value)


# -- Feishu ------------------------------------------------------------------------------------
def feishu_answer(request):
    """Signature in the body: seconds, HMAC of an empty message keyed by ts\\nsecret."""
    if request.path != f"/open-apis/bot/v2/hook/{HOOK}":
        return 404, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
    body = request.json()
    timestamp = body.get("timestamp", "0")
    expected = base64.b64encode(hmac.new(f"{timestamp}\n{SECRET}".encode(), b"",
                                         hashlib.sha256).digest()).decode()
    if abs(int(timestamp) - time.time()) > 3600 or body.get("sign") != expected:
        return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one "
                                          "hour from current time"}
    if body.get("msg_type") == "interactive":
        card = body["card"]
        if not card["header"]["title"]["content"] or card["elements"][0]["tag"] != "markdown":
            return 200, {"code": 11246, "msg": "card invalid"}
    elif body.get("msg_type") != "post" or not body["content"]["post"]["zh_cn"]["content"]:
        return 200, {"code": 9499, "msg": "Bad Request"}
    return 200, {"code": 0, "msg": "success", "data": {}}


@pytest.fixture
def feishu():
    server = LocalHttpServer(feishu_answer)
    yield server
    server.close()


def feishu_settings(server, **extra):
    return {"type": "feishu", "url": server.url + "/open-apis/bot/v2/hook",
            "hook_id": "env:FEISHU_HOOK", "secret": "env:FEISHU_SECRET",
            "rate_limit": NO_LIMIT, **extra}


async def test_feishu_signed_card_accepted(feishu, secrets):
    receiver = build_receiver("fs", feishu_settings(feishu), make_context())
    await receiver.send(make_notification(make_alert(), language="en"))
    card = feishu.requests[0].json()["card"]
    assert card["header"]["template"] == "red"
    assert card["header"]["title"]["content"].startswith("[FIRING:1] SSH brute force")
    assert "Root cause: weak password policy" in card["elements"][0]["content"]
    resolved = make_notification(make_alert(state=AlertState.RESOLVED))
    await receiver.send(resolved)
    assert feishu.requests[1].json()["card"]["header"]["template"] == "green"


async def test_feishu_post_format_accepted(feishu, secrets):
    receiver = build_receiver("fs", feishu_settings(feishu, msg_format="post"), make_context())
    await receiver.send(make_notification(make_alert(annotations={"summary": "a < b & c"})))
    post = feishu.requests[0].json()["content"]["post"]["zh_cn"]
    assert post["title"].startswith("[告警:1]")
    lines = [segment[0]["text"] for segment in post["content"]]
    assert "- 概要：a < b & c" in lines                     # plain text, no entities


async def test_feishu_signed_the_dingtalk_way_is_refused(feishu, secrets, monkeypatch):
    """Guard against the classic bug: DingTalk's HMAC construction gives code 19021."""
    import alerting.receivers.feishu as feishu_module
    from alerting.receivers.dingtalk import dingtalk_sign

    monkeypatch.setattr(feishu_module, "feishu_sign", dingtalk_sign)
    receiver = build_receiver("fs", feishu_settings(feishu), make_context())
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification())
    assert "19021" in str(failure.value) and not failure.value.retryable


async def test_feishu_unknown_hook_not_retryable_and_hook_masked(feishu, secrets, monkeypatch):
    monkeypatch.setenv("FEISHU_HOOK", "nope-hook")
    receiver = build_receiver("fs", feishu_settings(feishu), make_context())
    with pytest.raises(ReceiverError) as failure:
        await receiver.send(make_notification())
    assert failure.value.status == 404 and not failure.value.retryable
    assert "nope-hook" not in str(failure.value)


async def test_robot_server_error_is_retryable(secrets):
    server = LocalHttpServer(lambda r: (502, b"<html>bad gateway</html>"))
    try:
        receiver = build_receiver("fs", feishu_settings(server), make_context())
        with pytest.raises(ReceiverError) as failure:
            await receiver.send(make_notification())
        assert failure.value.retryable and failure.value.status == 502
    finally:
        server.close()
