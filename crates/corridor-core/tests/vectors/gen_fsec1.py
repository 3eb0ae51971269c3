#!/usr/bin/env python3
"""Computes fsec1 known-answer vectors from the protocol description alone
(Python's hashlib/hmac and the `cryptography` package), independent of both
corridor and the flowersec crate. Run: python3 gen_fsec1.py > fsec1.json"""

import hashlib, hmac, json, struct, base64
from cryptography.hazmat.primitives.asymmetric import x25519, ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization

def b64u(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def u16p(b): return struct.pack(">H", len(b)) + b

def hkdf(salt, ikm, info, n):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t; i += 1
    return out[:n]

def transcript(suite, cf, sf, channel, nc, ns, cpub, spub):
    data = (b"flowersec-e2ee-v1" + bytes([1]) + struct.pack(">H", suite) + bytes([1])
            + struct.pack(">I", cf) + struct.pack(">I", sf) + u16p(channel.encode())
            + nc + ns + u16p(cpub) + u16p(spub))
    return hashlib.sha256(data).digest()

def keys(psk, shared, th):
    ikm = shared + th
    L = lambda label, n: hkdf(psk, ikm, b"flowersec-e2ee-v1:" + label, n)
    return dict(c2s_key=L(b"c2s:key", 32), s2c_key=L(b"s2c:key", 32),
                rekey_base=L(b"rekey_base", 32),
                c2s_nonce_prefix=L(b"c2s:nonce_prefix", 4), s2c_nonce_prefix=L(b"s2c:nonce_prefix", 4))

def seal(key, prefix, flag, seq, pt):
    header = b"FSEC" + bytes([1, flag]) + struct.pack(">Q", seq) + struct.pack(">I", len(pt) + 16)
    return header + AESGCM(key).encrypt(prefix + struct.pack(">Q", seq), pt, header)

def rekey(base, th, seq, direction):
    salt = hmac.new(base, th + struct.pack(">Q", seq) + bytes([direction]), hashlib.sha256).digest()
    return hkdf(salt, b"flowersec-e2ee-v1:rekey", b"flowersec-e2ee-v1:rekey:key", 32)

def vector(suite, c_priv, s_priv, c_pub, s_pub, shared):
    psk = bytes(range(32))
    channel = "kat-channel"
    nc, ns = bytes([0xC1]) * 32, bytes([0x5E]) * 32
    cf, sf, ts = 1, 0, 1_700_000_000
    th = transcript(suite, cf, sf, channel, nc, ns, c_pub, s_pub)
    k = keys(psk, shared, th)
    tag = hmac.new(psk, th + struct.pack(">Q", ts), hashlib.sha256).digest()
    finished = seal(k["s2c_key"], k["s2c_nonce_prefix"], 1, 1, b"")
    app1 = seal(k["c2s_key"], k["c2s_nonce_prefix"], 0, 1, b"hello fsec1")
    rekey2 = seal(k["c2s_key"], k["c2s_nonce_prefix"], 2, 2, b"")
    new_key = rekey(k["rekey_base"], th, 2, 1)
    app3 = seal(new_key, k["c2s_nonce_prefix"], 0, 3, b"after rekey")
    return {
        "suite": suite, "psk": psk.hex(), "channel_id": channel,
        "client_private": c_priv.hex(), "server_private": s_priv.hex(),
        "client_public": c_pub.hex(), "server_public": s_pub.hex(),
        "nonce_c": nc.hex(), "nonce_s": ns.hex(),
        "client_features": cf, "server_features": sf, "timestamp_unix_s": ts,
        "shared_secret": shared.hex(), "transcript_hash": th.hex(),
        **{name: value.hex() for name, value in k.items()},
        "auth_tag": tag.hex(), "auth_tag_b64u": b64u(tag),
        "finished_record": finished.hex(),
        "c2s_app_record_seq1": app1.hex(), "c2s_rekey_record_seq2": rekey2.hex(),
        "c2s_rekeyed_key": new_key.hex(), "c2s_app_record_seq3": app3.hex(),
    }

raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
c_priv, s_priv = bytes([0x11]) * 32, bytes([0x22]) * 32
c, s = x25519.X25519PrivateKey.from_private_bytes(c_priv), x25519.X25519PrivateKey.from_private_bytes(s_priv)
x = vector(1, c_priv, s_priv, c.public_key().public_bytes(*raw), s.public_key().public_bytes(*raw),
           c.exchange(s.public_key()))

point = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
pc, ps = ec.derive_private_key(0x1111, ec.SECP256R1()), ec.derive_private_key(0x2222, ec.SECP256R1())
p = vector(2, (0x1111).to_bytes(32, "big"), (0x2222).to_bytes(32, "big"),
           pc.public_key().public_bytes(*point), ps.public_key().public_bytes(*point),
           pc.exchange(ec.ECDH(), ps.public_key()))

print(json.dumps({"generator": "gen_fsec1.py", "vectors": [x, p]}, indent=2))
