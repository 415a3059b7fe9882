#!/usr/bin/env python3
"""Independent verifier for keyquorum FROST(ristretto255, SHA-512) signatures (RFC 9591).

Pure Python 3 standard library: ristretto255 decoding and encoding (RFC 9496 sections 4.3.1 and
4.3.2, with SQRT_RATIO_M1), edwards25519 arithmetic in extended coordinates, and the RFC 9591
challenge H2(m) = SHA-512("FROST-RISTRETTO255-SHA512-v1" || "chal" || m) mod L. It shares no code
with keyquorum or libsodium, so agreement between the two is evidence that both follow the RFCs.

usage: schnorr_verify.py PUBKEY_HEX SIG_HEX MSG_HEX   (exit 0 valid, 1 invalid, 2 usage)
       schnorr_verify.py --self-test                  (RFC 9496 / RFC 9591 known answers)
"""

import hashlib
import sys

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
INVSQRT_A_MINUS_D = 54469307008909316920995813868745141605393597292927456921205312896311721017578
CONTEXT = b"FROST-RISTRETTO255-SHA512-v1"


def is_negative(x):
    return (x % P) & 1


def ct_abs(x):
    x %= P
    return (P - x) % P if is_negative(x) else x


def sqrt_ratio_m1(u, v):
    """RFC 9496 section 4.2: (was_square, r) with r = +sqrt(u/v) or +sqrt(i*u/v)."""
    u %= P
    v %= P
    v3 = v * v % P * v % P
    v7 = v3 * v3 % P * v % P
    r = (u * v3) % P * pow(u * v7 % P, (P - 5) // 8, P) % P
    check = v * r % P * r % P
    correct = check == u
    flipped = check == (-u) % P
    flipped_i = check == (-u * SQRT_M1) % P
    if flipped or flipped_i:
        r = r * SQRT_M1 % P
    return (correct or flipped), ct_abs(r)


def decode(b):
    """RFC 9496 section 4.3.1. Returns an extended point (X, Y, Z, T) or None."""
    if len(b) != 32:
        return None
    s = int.from_bytes(b, "little")
    if s >= P or is_negative(s):
        return None
    ss = s * s % P
    u1 = (1 - ss) % P
    u2 = (1 + ss) % P
    u2_sqr = u2 * u2 % P
    v = (-(D * u1 % P * u1) - u2_sqr) % P
    was_square, invsqrt = sqrt_ratio_m1(1, v * u2_sqr)
    den_x = invsqrt * u2 % P
    den_y = invsqrt * den_x % P * v % P
    x = ct_abs(2 * s * den_x)
    y = u1 * den_y % P
    t = x * y % P
    if not was_square or is_negative(t) or y == 0:
        return None
    return (x, y, 1, t)


def encode(pt):
    """RFC 9496 section 4.3.2."""
    x0, y0, z0, t0 = pt
    u1 = (z0 + y0) * (z0 - y0) % P
    u2 = x0 * y0 % P
    _, invsqrt = sqrt_ratio_m1(1, u1 * u2 % P * u2)
    den1 = invsqrt * u1 % P
    den2 = invsqrt * u2 % P
    z_inv = den1 * den2 % P * t0 % P
    ix0 = x0 * SQRT_M1 % P
    iy0 = y0 * SQRT_M1 % P
    enchanted = den1 * INVSQRT_A_MINUS_D % P
    rotate = is_negative(t0 * z_inv)
    x, y, den_inv = (iy0, ix0, enchanted) if rotate else (x0, y0, den2)
    if is_negative(x * z_inv):
        y = (-y) % P
    s = ct_abs(den_inv * (z0 - y))
    return s.to_bytes(32, "little")


IDENTITY = (0, 1, 1, 0)


def add(p1, p2):
    """edwards25519 (a = -1) unified addition in extended coordinates (add-2008-hwcd-3)."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * 2 * D % P * t2 % P
    d = z1 * 2 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(k, pt):
    acc = IDENTITY
    for bit in reversed(range(k.bit_length())):
        acc = add(acc, acc)
        if (k >> bit) & 1:
            acc = add(acc, pt)
    return acc


BASE = decode(bytes.fromhex("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76"))


def challenge(r_enc, pk_enc, msg):
    h = hashlib.sha512(CONTEXT + b"chal" + r_enc + pk_enc + msg).digest()
    return int.from_bytes(h, "little") % L


def verify(pk_enc, sig, msg):
    """RFC 9591 Appendix B prime_order_verify with full input validation."""
    if len(pk_enc) != 32 or len(sig) != 64:
        return False
    r_enc, z_enc = sig[:32], sig[32:]
    pk = decode(pk_enc)
    r = decode(r_enc)
    if pk is None or r is None:
        return False
    identity = bytes(32)
    if pk_enc == identity or r_enc == identity:
        return False
    z = int.from_bytes(z_enc, "little")
    if z >= L:
        return False
    c = challenge(r_enc, pk_enc, msg)
    return encode(mul(z, BASE)) == encode(add(r, mul(c, pk)))


def self_test():
    assert pow(SQRT_M1, 2, P) == P - 1
    ok, inv = sqrt_ratio_m1(1, (-1 - D) % P)
    assert ok and inv == INVSQRT_A_MINUS_D
    # RFC 9496 Appendix A.1: small multiples of the generator.
    multiples = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
        "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
        "94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259",
    ]
    for k, want in enumerate(multiples):
        assert encode(mul(k, BASE)).hex() == want, k
    # RFC 9496 Appendix A.2: a non-canonical field encoding and a negative s are rejected.
    assert decode(bytes.fromhex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")) is None
    assert decode(bytes.fromhex("0100000000000000000000000000000000000000000000000000000000000000")) is None
    # RFC 9591 Appendix E.3: the group key and the final signature.
    sk = int.from_bytes(bytes.fromhex(
        "1b25a55e463cfd15cf14a5d3acc3d15053f08da49c8afcf3ab265f2ebc4f970b"), "little")
    pk = bytes.fromhex("e2a62f39eede11269e3bd5a7d97554f5ca384f9f6d3dd9c3c0d05083c7254f57")
    assert encode(mul(sk, BASE)) == pk
    sig = bytes.fromhex(
        "fc45655fbc66bbffad654ea4ce5fdae253a49a64ace25d9adb62010dd9fb2555"
        "2164141787162e5b4cab915b4aa45d94655dbb9ed7c378a53b980a0be220a802")
    assert verify(pk, sig, b"test")
    assert not verify(pk, sig, b"tesu")
    assert not verify(pk, sig[:32] + (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little"), b"test")
    print("self-test ok")


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        self_test()
        return 0
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    try:
        pk, sig, msg = (bytes.fromhex(a) for a in argv[1:4])
    except ValueError:
        print("schnorr_verify: arguments must be hex", file=sys.stderr)
        return 2
    if verify(pk, sig, msg):
        return 0
    print("schnorr_verify: invalid signature", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
