"""Pure-Python arithmetic on the SM2 recommended curve (GB/T 32918.5), for non-secret work only.

Used to validate public points and, rarely, to derive a public key from a private key that was
stored without one. It is NOT constant-time: never call it on the signing or decryption path
(libgmssl does those). Jacobian coordinates keep a scalar multiplication around 10 ms.
"""
from __future__ import annotations

P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

Point = tuple[int, int] | None  # None is the point at infinity


def on_curve(x: int, y: int) -> bool:
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def _double(X, Y, Z):
    if Y == 0 or Z == 0:
        return 0, 1, 0
    YY = Y * Y % P
    S = 4 * X * YY % P
    ZZ = Z * Z % P
    M = (3 * X * X + A * ZZ * ZZ) % P
    X3 = (M * M - 2 * S) % P
    Y3 = (M * (S - X3) - 8 * YY * YY) % P
    Z3 = 2 * Y * Z % P
    return X3, Y3, Z3


def _add(X1, Y1, Z1, X2, Y2, Z2):
    if Z1 == 0:
        return X2, Y2, Z2
    if Z2 == 0:
        return X1, Y1, Z1
    Z1Z1, Z2Z2 = Z1 * Z1 % P, Z2 * Z2 % P
    U1, U2 = X1 * Z2Z2 % P, X2 * Z1Z1 % P
    S1, S2 = Y1 * Z2 * Z2Z2 % P, Y2 * Z1 * Z1Z1 % P
    H, R = (U2 - U1) % P, (S2 - S1) % P
    if H == 0:
        return _double(X1, Y1, Z1) if R == 0 else (0, 1, 0)
    HH = H * H % P
    HHH = H * HH % P
    V = U1 * HH % P
    X3 = (R * R - HHH - 2 * V) % P
    Y3 = (R * (V - X3) - S1 * HHH) % P
    Z3 = H * Z1 * Z2 % P
    return X3, Y3, Z3


def multiply(k: int, point: Point = (GX, GY)) -> Point:
    """k * point (affine in, affine out)."""
    if point is None or k % N == 0:
        return None
    X, Y, Z = 0, 1, 0
    PX, PY, PZ = point[0], point[1], 1
    for bit in bin(k % N)[2:]:
        X, Y, Z = _double(X, Y, Z)
        if bit == "1":
            X, Y, Z = _add(X, Y, Z, PX, PY, PZ)
    if Z == 0:
        return None
    zinv = pow(Z, -1, P)
    zinv2 = zinv * zinv % P
    return X * zinv2 % P, Y * zinv2 * zinv % P
