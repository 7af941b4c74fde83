"""The packets source: live AF_PACKET capture or pcap/pcapng files -> flow, DNS, HTTP and TLS
events. `pcap_events(path)` is the offline entry point (`shouwang parse --format pcap`);
`source.SPEC` is the component (type: packets)."""
from collectors.packets.offline import pcap_events

__all__ = ["pcap_events"]
