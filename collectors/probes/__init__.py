"""probes: a built-in blackbox prober (http, tcp, dns, icmp) and its shared pieces.

    settings.py  the `probes` source's settings (targets, modules, labels)
    source.py    scheduling, concurrency, events and the SPEC
    http.py, tcp.py, dns.py, icmp.py   one prober each: target + settings -> ProbeResult
    result.py    ProbeResult: what every prober returns
    export.py    target labels and the latest-results collector (shared with prom_scrape)
    schedule.py  per-target schedules at stable offsets (shared with prom_scrape)
"""
