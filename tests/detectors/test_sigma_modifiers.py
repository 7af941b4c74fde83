"""Sigma value modifiers and conditions, each on a small hand-written rule."""
from __future__ import annotations

import base64

import pytest

from tests.detectors.test_sigma_support import load_texts, predicate, rule_text


def web(**fields) -> dict:
    event = {"event.dataset": "nginx.access", "event.kind": "event"}
    event.update({key.replace("__", "."): value for key, value in fields.items()})
    return event


def test_plain_value_is_whole_value_and_case_insensitive(tmp_path):
    match = predicate(tmp_path, """
        selection: {cs-method: post}
        condition: selection""")
    assert match(web(http__request__method="POST"))
    assert not match(web(http__request__method="POSTX"))
    assert not match(web())


def test_contains_startswith_endswith(tmp_path):
    match = predicate(tmp_path, """
        a: {cs-uri-query|contains: '/etc/passwd'}
        b: {cs-user-agent|startswith: 'sqlmap/'}
        c: {cs-uri-stem|endswith: '.JSP'}
        condition: a or b or c""")
    assert match(web(url__original="/x?f=../../ETC/PASSWD"))
    assert match(web(user_agent__original="SQLMap/1.7"))
    assert not match(web(user_agent__original="Mozilla sqlmap/1.7"))
    assert match(web(url__path="/upload/cmd.jsp"))
    assert not match(web(url__path="/upload/cmd.jspx"))


def test_wildcards_star_and_question_mark_and_escapes(tmp_path):
    match = predicate(tmp_path, r"""
        selection: {cs-uri-query: ['/admin/*/delete?id=?', '/literal\*star']}
        condition: selection""")
    assert match(web(url__original="/admin/users/7/delete?id=9"))
    assert not match(web(url__original="/admin/users/7/delete?id=10"))
    assert match(web(url__original="/literal*star"))
    assert not match(web(url__original="/literalXstar"))


def test_cased_keeps_case(tmp_path):
    match = predicate(tmp_path, """
        selection: {cs-user-agent|cased|contains: 'Nikto'}
        condition: selection""")
    assert match(web(user_agent__original="Mozilla (Nikto/2.5)"))
    assert not match(web(user_agent__original="mozilla (nikto/2.5)"))


def test_all_links_values_with_and(tmp_path):
    match = predicate(tmp_path, """
        selection: {cs-uri-query|contains|all: ['union', 'select']}
        condition: selection""")
    assert match(web(url__original="/?q=1 UNION ALL SELECT 2"))
    assert not match(web(url__original="/?q=union only"))


def test_re_is_re2_search_with_flags(tmp_path):
    match = predicate(tmp_path, r"""
        a: {cs-uri-query|re: 'id=\d+\s*(or|and)\s'}
        b: {cs-user-agent|re|i: '^curl/'}
        condition: a or b""")
    assert match(web(url__original="/item?id=1 or 1=1"))
    assert not match(web(url__original="/item?id=1 OR 1=1"))  # re is case-sensitive
    assert match(web(user_agent__original="CURL/8.5"))


def test_re_that_re2_cannot_compile_is_rejected_with_reason(tmp_path):
    loaded = load_texts(tmp_path, rule_text(r"""
        selection: {cs-uri-query|re: '(a)\1'}
        condition: selection"""))
    assert not loaded.compiled and len(loaded.rejected) == 1
    assert "regular expression" in loaded.rejected[0].reason.lower()
    assert loaded.rejected[0].category == "regex RE2 cannot compile"


def test_cidr_on_address_fields(tmp_path):
    match = predicate(tmp_path, """
        selection: {c-ip|cidr: ['10.0.0.0/8', '2001:db8::/32']}
        condition: selection""")
    assert match(web(source__ip="10.1.2.3"))
    assert match(web(source__ip="2001:db8::1"))
    assert not match(web(source__ip="203.0.113.5"))
    assert not match(web(source__ip="not-an-ip"))


def test_base64_and_base64offset(tmp_path):
    match = predicate(tmp_path, """
        a: {cs-uri-query|base64: 'whoami'}
        b: {cs-uri-query|base64offset|contains: '/bin/sh'}
        condition: a or b""")
    assert match(web(url__original=base64.b64encode(b"whoami").decode()))
    for prefix in (b"", b"x", b"xy"):  # every alignment of the needle in the encoded text
        encoded = base64.b64encode(prefix + b"exec /bin/sh -i").decode()
        assert match(web(url__original=f"/run?c={encoded}")), prefix
    assert not match(web(url__original="/run?c=" + base64.b64encode(b"ls -la").decode()))


def test_windash_matches_dash_and_slash_forms(tmp_path):
    match = predicate(tmp_path, """
        selection: {CommandLine|windash|contains: ' -enc '}
        condition: selection""", logsource="category: process_creation\nproduct: linux")
    event = {"process.command_line": "powershell /enc AAAA"}
    # an inactive rule (no process_creation source) still compiles and evaluates
    assert match({"CommandLine": "powershell /enc AAAA"})
    assert match({"CommandLine": "powershell -enc AAAA"})
    assert not match(event)  # not mapped: the rule keeps its Sigma field names


def test_exists_and_null(tmp_path):
    match = predicate(tmp_path, """
        has_ref: {cs-referer|exists: true}
        no_agent: {cs-user-agent: null}
        condition: has_ref and no_agent""")
    assert match(web(http__request__referrer="https://a/"))
    assert not match(web(http__request__referrer="https://a/", user_agent__original="x"))
    assert not match(web())


def test_numbers_match_numbers_and_their_text(tmp_path):
    match = predicate(tmp_path, """
        selection: {sc-status: [401, 403]}
        condition: selection""")
    assert match(web(http__response__status_code=401))
    assert match(web(http__response__status_code="403"))
    assert not match(web(http__response__status_code=404))


def test_numeric_comparisons(tmp_path):
    match = predicate(tmp_path, """
        selection: {sc-bytes|gte: 1000000}
        condition: selection""")
    assert match(web(http__response__body__bytes=5_000_000))
    assert not match(web(http__response__body__bytes=10))


def test_fieldref_compares_two_fields(tmp_path):
    match = predicate(tmp_path, """
        selection: {cs-referer|fieldref: cs-uri-query}
        condition: selection""")
    assert match(web(http__request__referrer="/a", url__original="/A"))
    assert not match(web(http__request__referrer="/a", url__original="/b"))


def test_keywords_search_the_raw_line(tmp_path):
    match = predicate(tmp_path, """
        keywords: ['Failed password for root', 'Trojan*FOUND']
        condition: keywords""", logsource="product: linux")
    assert match({"event.original": "Nov 25 sshd[1]: FAILED PASSWORD FOR ROOT from 1.2.3.4"})
    assert match({"message": "/tmp/x: Unix.Trojan.Agent FOUND"})
    assert not match({"event.original": "Accepted password for root"})


def test_list_valued_fields_match_any_element(tmp_path):
    match = predicate(tmp_path, """
        selection: {query|endswith: '.onion'}
        condition: selection""", logsource="category: dns")
    assert match({"dns.question.name": ["a.example", "abc.ONION"]})
    assert not match({"dns.question.name": ["a.example"]})


@pytest.mark.parametrize("condition, expected", [
    ("1 of sel*", [True, True, False, True]),
    ("all of sel*", [False, False, False, True]),
    ("sel_a and not filter", [True, False, False, False]),
    ("(sel_a or sel_b) and not filter", [True, True, False, False]),
    ("1 of sel* and not 1 of filter*", [True, True, False, False]),
    ("not sel_a", [False, True, True, False]),
])
def test_conditions(tmp_path, condition, expected):
    match = predicate(tmp_path, f"""
        sel_a: {{cs-uri-query|contains: 'wp-login'}}
        sel_b: {{cs-method: POST}}
        filter: {{c-ip|cidr: '10.0.0.0/8'}}
        condition: {condition}""")
    events = [
        web(url__original="/wp-login.php", http__request__method="GET", source__ip="1.2.3.4"),
        web(url__original="/", http__request__method="POST", source__ip="1.2.3.4"),
        web(url__original="/", http__request__method="GET", source__ip="10.0.0.1"),
        web(url__original="/wp-login.php", http__request__method="POST", source__ip="10.0.0.9"),
    ]
    assert [match(event) for event in events] == expected


def test_condition_list_is_or(tmp_path):
    match = predicate(tmp_path, """
        a: {cs-method: PUT}
        b: {cs-method: DELETE}
        condition: [a, b]""")
    assert match(web(http__request__method="PUT")) and match(web(http__request__method="DELETE"))
    assert not match(web(http__request__method="GET"))
