"""http probes against real HTTP and HTTPS servers on 127.0.0.1 and ::1, and the probes source
(schedule, exported metrics, result events)."""
import asyncio
import datetime
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ipaddress import ip_address
from prometheus_client import CollectorRegistry, generate_latest

from collectors.probes.settings import ProbesSettings
from collectors.probes.source import SPEC
from collectors.probes.tls import cert_validity
from core.components import BuildContext
from core.metrics import PipelineMetrics
from core.pipeline import Pipeline
from core.registry import Registry

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

PAGES = {
    "/ok": (200, b"<html>Patent examination system OK</html>"),
    "/maintenance": (200, b"<html>System under maintenance</html>"),
    "/fail": (500, b"internal error"),
    "/big": (200, b"x" * 5000),
}


async def handle(reader, writer):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
        return
    path = head.split(b" ")[1].decode()
    if path.startswith("/redirect/"):
        left = int(path.rsplit("/", 1)[1])
        location = "/ok" if left == 0 else f"/redirect/{left - 1}"
        writer.write(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n".encode())
    elif path == "/chunked":
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     b"7\r\nPatent \r\n8\r\nportal!!\r\n0\r\n\r\n")
    else:
        status, body = PAGES.get(path, (404, b"not found"))
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
                     "Connection: close\r\n\r\n".encode() + body)
    try:
        await writer.drain()
    except ConnectionError:
        pass
    writer.close()


def make_cert(subject, issuer_name, issuer_key, key, *, days, ca=False, expired=False):
    start = NOW - datetime.timedelta(days=400 if expired else 1)
    end = NOW - datetime.timedelta(days=2) if expired else NOW + datetime.timedelta(days=days)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1")),
            x509.IPAddress(ip_address("::1"))]), False)
    return builder.sign(issuer_key, hashes.SHA256()), end


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A test CA, a valid leaf it signed (90 days), an expired leaf it signed, a self-signed leaf."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert, _ = make_cert("Shouwang Test CA", "Shouwang Test CA", ca_key, ca_key, days=3650,
                           ca=True)
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    out = {"ca_file": folder / "ca.pem"}
    for name, signer, expired in (("valid", "ca", False), ("expired", "ca", True),
                                  ("selfsigned", "self", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        issuer_key, issuer = (ca_key, "Shouwang Test CA") if signer == "ca" else (key, "localhost")
        cert, not_after = make_cert("localhost", issuer, issuer_key, key, days=90,
                                    expired=expired)
        (folder / f"{name}.pem").write_bytes(
            cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        out[name] = (folder / f"{name}.pem", not_after.timestamp(),
                     cert.public_bytes(serialization.Encoding.DER))
    return out


@pytest.fixture
async def servers(pki):
    """Base URLs: http on 127.0.0.1 and ::1, https (valid, expired, self-signed) on both."""
    started, urls = [], {}
    for family, host in (("4", "127.0.0.1"), ("6", "::1")):
        shown = host if family == "4" else "[::1]"
        server = await asyncio.start_server(handle, host, 0)
        started.append(server)
        urls[f"http{family}"] = f"http://{shown}:{server.sockets[0].getsockname()[1]}"
        for name in ("valid", "expired", "selfsigned"):
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(pki[name][0])
            server = await asyncio.start_server(handle, host, 0, ssl=context)
            started.append(server)
            urls[f"{name}{family}"] = f"https://{shown}:{server.sockets[0].getsockname()[1]}"
    yield urls
    for server in started:
        server.close()


def setup(tmp_path, targets, **config):
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    ctx = BuildContext(data_dir=tmp_path, registry=registry, metrics=metrics,
                       parsers=Registry("format"), hostname="mon-1")
    settings = ProbesSettings.model_validate({"type": "probes", "targets": targets, **config})
    source = SPEC.build("probes", settings, ctx)
    pipeline = Pipeline(sources=[], sinks=[], metrics=metrics)
    return source, pipeline, registry


def queued(pipeline):
    return [event for item in pipeline.queue._items for event in item.events]


async def run_one(tmp_path, target, **config):
    source, pipeline, registry = setup(tmp_path, [target], **config)
    result = await source.probe(source.settings.targets[0], pipeline.emitter("probes"))
    labels = {"target": target["target"], "module": target["module"],
              **target.get("labels", {})}
    if target.get("ip_protocol", "auto") != "auto":
        labels["ip_protocol"] = target["ip_protocol"]

    def value(name, **extra):
        return registry.get_sample_value(name, {**labels, **extra})
    return result, value, queued(pipeline)


@pytest.mark.parametrize("family", ["4", "6"])
async def test_http_ok_reports_status_phases_and_protocol(tmp_path, servers, family):
    url = servers[f"http{family}"] + "/ok"
    result, value, [event] = await run_one(tmp_path, {
        "module": "http", "target": url,
        "labels": {"system": "patent-examination", "tier": "1", "owner": "ops-a"},
        "http": {"body_must_match": ["examination system OK"]}})
    assert result.success, result.reason
    assert value("probe_success") == 1
    assert value("probe_http_status_code") == 200
    assert value("probe_ip_protocol") == int(family)
    assert value("probe_http_ssl") == 0
    assert value("probe_failed_due_to_regex") == 0
    assert value("probe_http_content_length") == len(PAGES["/ok"][1])
    for phase in ("resolve", "connect", "tls", "processing", "transfer"):
        assert value("probe_http_duration_seconds", phase=phase) >= 0
    assert value("probe_http_duration_seconds", phase="tls") == 0
    assert 0 < value("probe_http_duration_seconds", phase="connect") < 1
    assert 0 < value("probe_duration_seconds") < 1
    assert event["event.kind"] == "metric"
    assert event["event.dataset"] == "shouwang.probe"
    assert event["event.outcome"] == "success"
    assert event["url.full"] == url
    assert event["http.response.status_code"] == 200
    assert event["labels.system"] == "patent-examination"
    assert event["shouwang.system"] == "patent-examination"
    assert event["service.name"] == "patent-examination"
    assert 0 < event["event.duration"] < 1e9
    assert "error.message" not in event


async def test_server_error_is_a_failure_with_the_status(tmp_path, servers):
    result, value, [event] = await run_one(
        tmp_path, {"module": "http", "target": servers["http4"] + "/fail"})
    assert value("probe_success") == 0
    assert value("probe_http_status_code") == 500
    assert event["event.outcome"] == "failure"
    assert event["error.message"] == "status 500 is not valid"
    result, value, _ = await run_one(tmp_path, {
        "module": "http", "target": servers["http4"] + "/fail",
        "http": {"valid_status_codes": [500]}})
    assert value("probe_success") == 1


async def test_redirect_chain_is_followed_and_counted(tmp_path, servers):
    result, value, [event] = await run_one(
        tmp_path, {"module": "http", "target": servers["http6"] + "/redirect/3"})
    assert result.success, result.reason
    assert value("probe_http_redirects") == 4
    assert value("probe_http_status_code") == 200
    assert event["url.full"] == servers["http6"] + "/ok"
    result, value, _ = await run_one(tmp_path, {
        "module": "http", "target": servers["http4"] + "/redirect/3",
        "http": {"max_redirects": 2}})
    assert result.reason == "more than 2 redirects"
    result, value, _ = await run_one(tmp_path, {
        "module": "http", "target": servers["http4"] + "/redirect/3",
        "http": {"follow_redirects": False, "valid_status_codes": [302]}})
    assert result.success and value("probe_http_redirects") == 0


async def test_body_regex_must_and_must_not_match(tmp_path, servers):
    result, value, _ = await run_one(tmp_path, {
        "module": "http", "target": servers["http4"] + "/maintenance",
        "http": {"body_must_not_match": ["(?i)under maintenance"]}})
    assert result.reason == "body matched '(?i)under maintenance'"
    assert value("probe_failed_due_to_regex") == 1
    assert value("probe_http_status_code") == 200
    result, value, _ = await run_one(tmp_path, {
        "module": "http", "target": servers["http4"] + "/chunked",
        "http": {"body_must_match": ["Patent portal!!"]}})
    assert result.success, result.reason
    assert value("probe_http_uncompressed_body_length") == 15
    result, value, _ = await run_one(tmp_path, {
        "module": "http", "target": servers["http4"] + "/ok",
        "http": {"body_must_match": ["trademark"]}})
    assert result.reason == "body did not match 'trademark'"
    assert value("probe_failed_due_to_regex") == 1


async def test_body_over_the_limit_fails_without_reading_it_all(tmp_path, servers):
    result, _, _ = await run_one(tmp_path, {
        "module": "http", "target": servers["http4"] + "/big", "http": {"max_body_bytes": 1000}})
    assert result.reason == "body larger than 1000 bytes"


@pytest.mark.parametrize("family", ["4", "6"])
async def test_https_with_the_configured_ca_reports_tls_and_expiry(tmp_path, servers, pki,
                                                                   family):
    result, value, [event] = await run_one(tmp_path, {
        "module": "http", "target": servers[f"valid{family}"] + "/ok",
        "http": {"ca_file": str(pki["ca_file"]), "fail_if_not_ssl": True}})
    assert result.success, result.reason
    assert value("probe_http_ssl") == 1
    assert value("probe_ssl_earliest_cert_expiry") == pki["valid"][1]
    assert value("probe_tls_version_info", version="TLS 1.3") == 1
    assert value("probe_http_duration_seconds", phase="tls") > 0
    assert event["tls.version"] == "1.3"
    assert event["tls.server.not_after"].startswith(
        datetime.datetime.fromtimestamp(pki["valid"][1], datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%S"))


@pytest.mark.parametrize("name, reason", [
    ("expired", "certificate verify failed: certificate has expired"),
    ("selfsigned", "certificate verify failed: self-signed certificate"),
])
async def test_bad_certificates_fail_and_still_export_expiry(tmp_path, servers, pki, name,
                                                             reason):
    for family in ("4", "6"):
        result, value, [event] = await run_one(tmp_path, {
            "module": "http", "target": servers[f"{name}{family}"] + "/ok",
            "http": {"ca_file": str(pki["ca_file"])}})
        assert result.reason == reason
        assert value("probe_success") == 0
        assert value("probe_ssl_earliest_cert_expiry") == pki[name][1]
        assert event["error.message"] == reason


async def test_system_cas_reject_the_test_certificate_and_skip_verify_accepts_it(
        tmp_path, servers, pki):
    result, _, _ = await run_one(tmp_path, {"module": "http",
                                            "target": servers["valid4"] + "/ok"})
    assert result.reason.startswith("certificate verify failed")
    result, value, _ = await run_one(tmp_path, {
        "module": "http", "target": servers["expired4"] + "/ok",
        "http": {"insecure_skip_verify": True}})
    assert result.success and value("probe_ssl_earliest_cert_expiry") == pki["expired"][1]


async def test_unreachable_port_and_wrong_family_fail_with_a_reason(tmp_path, servers):
    result, value, [event] = await run_one(tmp_path, {"module": "http",
                                                      "target": "http://127.0.0.1:1/"})
    assert result.reason == "connection refused"
    assert value("probe_success") == 0
    result, value, _ = await run_one(tmp_path, {"module": "http", "ip_protocol": "ip6",
                                                "target": servers["http4"] + "/ok"})
    assert result.reason == "127.0.0.1 is not an IPv6 address"
    assert value("probe_ip_protocol") == 0
    result, value, _ = await run_one(tmp_path, {"module": "http", "ip_protocol": "ip6",
                                                "target": "http://localhost:1/"})
    assert value("probe_ip_protocol") in (0, 6)


async def test_a_server_that_never_answers_times_out(tmp_path):
    async def silent(reader, writer):
        await asyncio.sleep(10)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    result, value, [event] = await run_one(tmp_path, {"module": "http", "target": url,
                                                      "timeout_secs": 0.3})
    server.close()
    assert result.reason == "timed out after 0.3s"
    assert 0.3 <= value("probe_duration_seconds") < 1


def test_der_validity_matches_cryptography(pki):
    for name in ("valid", "expired", "selfsigned"):
        assert cert_validity(pki[name][2])[1] == pki[name][1]
    with pytest.raises(ValueError):
        cert_validity(b"\x30\x82\x01")


async def test_source_runs_targets_on_schedule_and_exports_one_family_each(tmp_path, servers):
    targets = [
        {"module": "http", "target": servers["http4"] + "/ok", "labels": {"system": "portal"}},
        {"module": "http", "target": "http://localhost:1/", "ip_protocol": "ip4",
         "labels": {"system": "portal", "tier": "2"}},
        {"module": "tcp", "target": servers["http6"].removeprefix("http://"),
         "labels": {"owner": "net"}},
    ]
    source, pipeline, registry = setup(tmp_path, targets, interval_secs=0.2, max_concurrency=2)
    task = asyncio.create_task(source.run(pipeline.emitter("probes")))
    await asyncio.sleep(0.75)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    events = queued(pipeline)
    per_target = {t["target"]: sum(e["shouwang.probe.target"] == t["target"] for e in events)
                  for t in targets}
    assert all(3 <= count <= 4 for count in per_target.values()), per_target
    assert registry.get_sample_value("probe_success", {
        "target": "http://localhost:1/", "module": "http", "system": "portal", "tier": "2",
        "owner": "", "ip_protocol": "ip4"}) == 0
    exposition = generate_latest(registry).decode()
    assert exposition.count("# TYPE probe_success gauge") == 1
    # every sample has the same label names: fixed ones, then the union of the targets'
    assert f'probe_success{{ip_protocol="",module="http",owner="",system="portal",' \
           f'target="{targets[0]["target"]}",tier=""}} 1.0' in exposition


def test_duplicate_targets_and_bad_regexes_are_configuration_errors():
    with pytest.raises(ValueError, match="repeats http"):
        ProbesSettings(type="probes", targets=[{"module": "http", "target": "http://a/"}] * 2)
    with pytest.raises(ValueError, match="RE2"):
        ProbesSettings(type="probes", targets=[{"module": "http", "target": "http://a/",
                                                "http": {"body_must_match": ["(unclosed"]}}])
    with pytest.raises(ValueError, match="dns.server"):
        ProbesSettings(type="probes", targets=[{"module": "dns", "target": "a.example"}])


async def test_probe_events_reach_the_store_through_a_running_pipeline(tmp_path, servers):
    """Probe events are queued with emit_nowait only; they must still be written."""
    source, _, registry = setup(tmp_path, [{"module": "http", "target": servers["http4"] + "/ok"}],
                                interval_secs=0.1)

    class Sink:
        name = "memory"
        events = []

        async def write(self, events):
            self.events.extend(events)

    sink = Sink()
    pipeline = Pipeline(sources=[source], sinks=[sink], metrics=PipelineMetrics(
        CollectorRegistry()), batch_max_wait_secs=0.05)
    await pipeline.start()
    await asyncio.sleep(0.5)
    await pipeline.stop(drain_secs=1)
    assert len(sink.events) >= 3
    assert all(e["event.outcome"] == "success" for e in sink.events)
