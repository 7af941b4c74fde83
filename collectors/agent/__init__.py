"""collectors.agent: the agent that runs collectors on a monitored host and ships their events.

    settings         the agent's configuration (`agent:`, `spool:` and the shared `sources:`)
    server_settings  the server's `agents:` block: its identity and the trusted agent keys
    codec            batch payload: zstd-compressed NDJSON, bounded decoding
    spool            durable FIFO of batches on disk, oldest-first eviction past max_bytes
    sink             the agent pipeline's sink: batches into the spool (sources ack after that)
    shipper          spool -> servers: seal (crypto.channel), POST, remove only after a 2xx
    heartbeat        the shouwang.agent heartbeat source
    metrics          the agent's Prometheus metrics
    runner           builds and runs it all (`shouwang agent`)

README.md describes key setup and the delivery contract.
"""
