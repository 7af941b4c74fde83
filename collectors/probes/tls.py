"""TLS for probes with the ssl module only: contexts, the certificate's expiry, version names.

Application code may not import `cryptography` (crypto/ is the trust boundary), so the leaf
certificate's notAfter is read from its DER with a few lines of ASN.1: Certificate ->
tbsCertificate -> [version] serial signature issuer validity(notBefore, notAfter).
Python 3.11's ssl module exposes only the peer's leaf certificate, so
probe_ssl_earliest_cert_expiry is the leaf's expiry (intermediates are not seen).
"""
from __future__ import annotations

import calendar
import ssl
from pathlib import Path

TLS_VERSION_NAMES = {"TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2",
                     "TLSv1.3": "TLS 1.3"}


def tls_version_name(version: str | None) -> str:
    """blackbox_exporter's spelling of a TLS version ("TLS 1.3")."""
    return TLS_VERSION_NAMES.get(version or "", version or "unknown")


def client_context(ca_file: Path | None, verify: bool) -> ssl.SSLContext:
    """A client context verifying against `ca_file` (or the system CAs), or not verifying."""
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at `pos`."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _asn1_time(tag: int, text: str) -> float:
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ; RFC 5280: YY < 50 is 20YY
        year = int(text[:2])
        text = f"{2000 + year if year < 50 else 1900 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError(f"unexpected time tag {tag:#x}")
    return float(calendar.timegm((int(text[0:4]), int(text[4:6]), int(text[6:8]),
                                  int(text[8:10]), int(text[10:12]), int(text[12:14]))))


def cert_validity(der: bytes) -> tuple[float, float]:
    """(notBefore, notAfter) in epoch seconds of a DER X.509 certificate; ValueError if bad."""
    try:
        _, cert_start, _ = _tlv(der, 0)
        _, tbs_start, _ = _tlv(der, cert_start)
        tag, start, end = _tlv(der, tbs_start)
        if tag == 0xA0:  # explicit version; the serial follows
            tag, start, end = _tlv(der, end)
        _, _, end = _tlv(der, end)  # signature algorithm
        _, _, end = _tlv(der, end)  # issuer
        _, validity_start, _ = _tlv(der, end)
        before_tag, before_start, before_end = _tlv(der, validity_start)
        after_tag, after_start, after_end = _tlv(der, before_end)
        return (_asn1_time(before_tag, der[before_start:before_end].decode("ascii")),
                _asn1_time(after_tag, der[after_start:after_end].decode("ascii")))
    except (IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed certificate: {exc}") from None
