"""The packets source as the application builds it: settings, SPEC, pipeline, metrics."""
from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from scapy.all import IP, TCP, UDP, Ether, Raw, wrpcap

from collectors.packets import pcap_events
from collectors.packets.source import SPEC, PacketsSettings
from core.components import BuildContext
from core.errors import ConfigError
from core.metrics import PipelineMetrics
from core.pipeline import Pipeline
from core.registry import Registry

T0 = 1_700_000_000.0
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


class ListSink:
    name = "list"

    def __init__(self):
        self.events: list[dict] = []

    async def write(self, events):
        self.events.extend(events)


def context(tmp_path):
    registry = CollectorRegistry()
    return BuildContext(data_dir=tmp_path, registry=registry, metrics=PipelineMetrics(registry),
                        parsers=Registry("format"), hostname="mon-1")


def write_sample(path):
    packets = []
    for i in range(30):
        packets.append(ETH / IP(src="10.3.0.1", dst="10.3.0.2")
                       / TCP(sport=20000 + i, dport=80 if i % 2 else 22, flags="S"))
    packets.append(ETH / IP(src="10.3.0.1", dst="10.3.0.2", len=999) / UDP(sport=1, dport=2))
    packets.append(ETH / IP(src="10.3.0.1", dst="10.3.0.2") / UDP(sport=5, dport=6) / Raw(b"u"))
    for i, packet in enumerate(packets):
        packet.time = T0 + i * 0.1
    wrpcap(str(path), packets)


async def run_source(ctx, settings_dict):
    settings = PacketsSettings.model_validate(settings_dict)
    source = SPEC.build("pk", settings, ctx)
    sink = ListSink()
    pipeline = Pipeline(sources=[source], sinks=[sink], metrics=ctx.metrics,
                        batch_max_wait_secs=0.02)
    await pipeline.start()
    await asyncio.wait_for(source.files_done.wait(), 20)
    received = ctx.registry.get_sample_value("shouwang_component_received_events_total",
                                             {"component": "pk"}) or 0
    for _ in range(500):  # until the batch in flight reached the sink
        if len(sink.events) >= received:
            break
        await asyncio.sleep(0.01)
    await pipeline.stop()
    return source, sink.events


async def test_files_through_the_pipeline_with_metrics(tmp_path):
    write_sample(tmp_path / "a.pcap")
    ctx = context(tmp_path)
    source, events = await run_source(ctx, {"type": "packets",
                                            "pcap_paths": [str(tmp_path / "*.pcap")],
                                            "flows": {"max_flows": 10}})
    assert source.describe() == [f"pcap {tmp_path / '*.pcap'}"]
    flows = [e for e in events if e["event.dataset"] == "network.flow"]
    errors = [e for e in events if e["event.kind"] == "pipeline_error"]
    assert len(flows) == 31
    [error] = errors
    assert error["shouwang.component"] == "pk" and error["shouwang.stage"] == "decode"

    def value(name, **labels):
        return ctx.registry.get_sample_value(name, {"component": "pk", **labels})
    assert value("shouwang_packets_total", outcome="decoded") == 31
    assert value("shouwang_packets_total", outcome="corrupt") == 1
    assert value("shouwang_flows_exported_total", reason="evicted") == 21
    assert value("shouwang_flows_exported_total", reason="end_of_capture") == 10
    assert value("shouwang_flows_active") == 0
    assert value("shouwang_component_errors_total", stage="decode") == 1
    assert value("shouwang_component_received_events_total") == len(events)


async def test_bpf_filter_applies_to_files(tmp_path):
    write_sample(tmp_path / "a.pcap")
    _source, events = await run_source(context(tmp_path), {
        "type": "packets", "pcap_paths": [str(tmp_path / "a.pcap")],
        "bpf_filter": "tcp dst port 80"})
    flows = [e for e in events if e["event.dataset"] == "network.flow"]
    assert len(flows) == 15 and {f["destination.port"] for f in flows} == {80}
    assert [e for e in events if e["event.kind"] == "pipeline_error"] == []
    udp = list(pcap_events(tmp_path / "a.pcap", bpf_filter="udp"))  # the corrupt one is UDP too
    assert sorted(e["event.kind"] for e in udp) == ["event", "pipeline_error"]


async def test_two_sources_share_one_registry(tmp_path):
    write_sample(tmp_path / "a.pcap")
    ctx = context(tmp_path)
    settings = PacketsSettings.model_validate({"type": "packets",
                                               "pcap_paths": [str(tmp_path / "a.pcap")]})
    SPEC.build("one", settings, ctx)
    SPEC.build("two", settings, ctx)  # a second source must not re-register the metrics


async def test_missing_file_is_an_error_event_not_a_crash(tmp_path):
    _source, events = await run_source(context(tmp_path), {
        "type": "packets", "pcap_paths": [str(tmp_path / "gone.pcap")]})
    [error] = events
    assert error["shouwang.stage"] == "open" and error["file.path"] == str(tmp_path / "gone.pcap")


def test_settings_are_strict(tmp_path):
    with pytest.raises(ValidationError, match="exactly one"):
        PacketsSettings.model_validate({"type": "packets"})
    with pytest.raises(ValidationError, match="exactly one"):
        PacketsSettings.model_validate({"type": "packets", "interface": "lo",
                                        "pcap_paths": ["x.pcap"]})
    with pytest.raises(ValidationError):
        PacketsSettings.model_validate({"type": "packets", "interface": "lo", "snaplen": 10})
    with pytest.raises(ValidationError):
        PacketsSettings.model_validate({"type": "packets", "interface": "lo", "filter": "tcp"})
    with pytest.raises(ValidationError):
        PacketsSettings.model_validate({"type": "packets", "interface": "lo",
                                        "flows": {"max_flow": 5}})
    bad = PacketsSettings.model_validate({"type": "packets", "interface": "lo",
                                          "bpf_filter": "tcp port banana"})
    with pytest.raises(ConfigError, match="bpf_filter"):
        SPEC.build("pk", bad, context(tmp_path))
