"""crypto: SM2/SM3/SM4, keys, the envelope format, the agent channel, field protection and the
tamper-evident audit log. The only package that imports a cryptography library (the trust
boundary): ``cryptography`` for SM3/SM4, ``gmssl-pyx`` for SM2. See README.md (dependencies),
FORMAT.md (envelope and keystore formats) and SECURITY.md (attack model).

Modules, one job each:
    sm3, sm4, kdf, sm2       primitives (GB/T 32905, 32907, 32918; RFC 8998)
    secret                   SecretBytes: masked repr, constant-time equality
    envelope                 chunked SM4-GCM files at rest, optional SM2 signature
    keystore                 KEK from passphrase or key file, wrapped data keys, rotation
    channel                  agent -> server batch protection (SM2 key transport + SM4-GCM)
    fields                   encrypt / HMAC-tokenise selected event fields
    auditlog                 SM3 hash-chained JSON-lines log with SM2-signed checkpoints
    settings, refs           pydantic config models; "env:NAME" / "file:/path" secret references
    errors                   the exception hierarchy (all are core.errors.InputError)

Invariant: no function here logs, prints or returns key material in clear except the explicit
serialisers (``to_pem``) whose callers write files with mode 0600.
"""
