"""Templates: what people read in zh and en, escaping of hostile values, overrides by file,
and the plain-text fallback (with its error counter) when a template breaks."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from alerting.model import AlertState
from alerting.templates.render import TemplateMetrics, TemplateRenderer, TemplateSettings
from tests.alerting.test_receivers_support import make_alert, make_notification

HOSTILE_UA = '<script>alert("x")</script> [win](http://evil.example/) \n### fake heading'


def renderer(**settings):
    registry = CollectorRegistry()
    return TemplateRenderer(TemplateSettings(**settings), TemplateMetrics(registry)), registry


def errors(registry, template):
    return registry.get_sample_value("shouwang_template_render_errors_total",
                                     {"template": template}) or 0.0


def test_zh_im_message_answers_what_where_since_severity_and_links():
    render, _ = renderer()
    message = render.im(make_notification(make_alert()))
    assert message.title == "[告警:1] SSH brute force · 特别重大事件（I 级）"
    body = message.markdown
    assert "位置：patent-exam / sshd / web-1 / 203.0.113.7" in body
    assert "开始时间：2025-11-25 21:43:35 CST" in body          # Asia/Shanghai by default
    assert "根因：weak password policy" in body
    assert "ATT&CK：T1110 Brute Force（Credential Access）" in body
    assert "发生次数：42" in body
    assert "[处置手册](https://wiki.example.cn/runbooks/ssh-brute-force)" in body
    assert "[Grafana 看板](https://grafana.example.cn/d/sec?var-host=web-1)" in body
    assert not message.fallback


def test_en_mail_and_configured_timezone():
    render, _ = renderer(language="en", timezone="UTC")
    mail = render.mail(make_notification(make_alert(severity="high")))
    assert mail.subject == ("[Shouwang][FIRING:1] Class II (serious) SSH brute force - "
                            "patent-exam")
    assert "Since: 2025-11-25 13:43:35 UTC" in mail.text
    assert "<td>Since</td><td>2025-11-25 13:43:35 UTC</td>" in mail.html
    assert '<a href="https://wiki.example.cn/runbooks/ssh-brute-force">' in mail.html


@pytest.mark.parametrize("severity, zh_class", [("critical", "特别重大"), ("high", "重大"),
                                                 ("medium", "较大"), ("low", "一般")])
def test_every_severity_shows_its_national_incident_class(severity, zh_class):
    render, _ = renderer()
    assert f"· {zh_class}事件" in render.im(make_notification(make_alert(severity=severity))).title


def test_resolved_shows_end_time_in_both_languages():
    alert = make_alert(state=AlertState.RESOLVED)
    zh, _ = renderer()
    en, _ = renderer(language="en")
    assert "恢复时间：2025-11-25 21:48:35 CST" in zh.im(make_notification(alert)).markdown
    assert "resolved: 2025-11-25 21:48:35 CST" in en.im(make_notification(alert)).markdown


def test_hostile_label_is_escaped_in_html_and_neutralized_in_markdown():
    alert = make_alert(labels={"host": HOSTILE_UA},
                       annotations={"runbook_url": "javascript:alert(1)"})
    render, _ = renderer()
    mail = render.mail(make_notification(alert))
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in mail.html
    assert "javascript:" not in mail.html                     # not a link, not printed as one
    im = render.im(make_notification(alert)).markdown
    assert "<script>" not in im and "&lt;script&gt;" in im
    assert "[win](" not in im                                 # no clickable injected link
    assert "\n### fake heading" not in im                     # no injected line
    assert "javascript:" not in im
    assert HOSTILE_UA in mail.text                           # plain text keeps it verbatim


def test_many_alerts_are_listed_up_to_the_limit_and_counted():
    render, _ = renderer(max_alerts_listed=3)
    alerts = [make_alert(f"rule{i}", severity="low") for i in range(5)] + \
        [make_alert("worst", severity="critical")]
    message = render.im(make_notification(*alerts))
    assert "[告警:6]" in message.title and "特别重大" in message.title   # worst first
    assert message.markdown.index("worst") < message.markdown.index("rule0")
    assert "另有 3 条告警未列出" in message.markdown


def test_override_file_is_used(tmp_path):
    custom = tmp_path / "title.j2"
    custom.write_text("{{ top.host }} 出事了：{{ rule }}", encoding="utf-8")
    render, _ = renderer(title=custom)
    assert render.im(make_notification()).title == "web-1 出事了：SSH brute force"


@pytest.mark.parametrize("source", [
    "{{ rule ",                                   # syntax error
    "{{ no_such_variable }}",                     # unknown variable (strict)
    "{{ top.__class__.__mro__ }}",                # sandbox violation
    "{{ 1 / 0 }}",                                # runtime error
])
def test_broken_template_falls_back_to_plain_text_and_is_counted(tmp_path, source):
    body = tmp_path / "body.md.j2"
    body.write_text(source, encoding="utf-8")
    render, registry = renderer(body=body)
    message = render.im(make_notification(make_alert(labels={"host": HOSTILE_UA})))
    assert message.fallback
    assert message.title.startswith("[告警:1] SSH brute force")   # the title still rendered
    assert message.markdown.startswith("[告警:1] SSH brute force (特别重大事件（I 级）)")
    assert "203.0.113.7" in message.markdown and "<script>" not in message.markdown
    assert errors(registry, str(body)) == 1


def test_override_file_removed_after_start_falls_back(tmp_path):
    subject = tmp_path / "subject.j2"
    subject.write_text("x", encoding="utf-8")
    render, registry = renderer(subject=subject, language="en")
    subject.unlink()
    mail = render.mail(make_notification())
    assert mail.fallback and mail.subject.startswith("[FIRING:1] SSH brute force")
    assert mail.html and mail.text                          # the other parts still render
    assert errors(registry, str(subject)) == 1


def test_settings_refuse_unknown_zone_and_missing_file(tmp_path):
    with pytest.raises(ValueError):
        TemplateSettings(timezone="Mars/Olympus")
    with pytest.raises(ValueError):
        TemplateSettings(html=tmp_path / "missing.html.j2")
