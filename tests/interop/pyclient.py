"""An independent terminal for possim's host, written only with pyiso8583,
pyemv and psec (not with possim's code).

It builds a chip + online PIN purchase from the known-answer vectors' keys
and card with fresh values (STAN, amount, ATC, unpredictable number),
signs it (ISO 9564 format 0 PIN block under the TPK, Visa CVN 10 ARQC,
ISO 9797-1 algorithm 3 MAC under the TAK), sends it framed (2-byte
big-endian length) and checks the 0210: response code 00, a MAC that
verifies, and an ARPC (tag 91) that verifies. Then it reverses the purchase
with a 0400 (field 90, MAC in field 128) and checks the 0410.

Usage: pyclient.py HOST PORT VECTORS_DIR
Prints one line per check; exits 0 when every check held.
"""

import json
import os
import socket
import struct
import sys

import iso8583
from iso8583.specs import default_ascii as spec
import psec
import pyemv

host, port, vectors = sys.argv[1], int(sys.argv[2]), sys.argv[3]
keys = json.load(open(os.path.join(vectors, "keys.json")))
card = json.load(open(os.path.join(vectors, "cards.json")))[0]
tak, tpk, imk = (bytes.fromhex(keys[k]) for k in ("tak", "tpk", "imk_ac"))
pan, psn, pin = card["pan"], card.get("psn", "00"), card["pin"]
track2 = card["track2"]

failed = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (": " + detail if detail else ""))
    if not ok:
        failed.append(what)


def mac_of(fields, mac_field):
    """Encodes with a zero MAC, then MACs every byte before the MAC field."""
    fields = dict(fields)
    fields[mac_field] = "0000000000000000"
    raw, _ = iso8583.encode(fields, spec)
    data = bytes(raw[:-16])  # the MAC field is 16 hex characters, last
    return psec.mac.generate_retail_mac(tak[:8], tak[8:], data, 1).hex().upper()


def signed(fields, mac_field):
    fields = dict(fields)
    fields[mac_field] = mac_of(fields, mac_field)
    raw, _ = iso8583.encode(fields, spec)
    return bytes(raw)


def call(sock, msg):
    sock.sendall(struct.pack(">H", len(msg)) + msg)
    head = b""
    while len(head) < 2:
        chunk = sock.recv(2 - len(head))
        if not chunk:
            raise SystemExit("FAIL the host closed the connection")
        head += chunk
    (n,) = struct.unpack(">H", head)
    body = b""
    while len(body) < n:
        chunk = sock.recv(n - len(body))
        if not chunk:
            raise SystemExit("FAIL the host closed the connection")
        body += chunk
    return body


def mac_verifies(raw, decoded, mac_field):
    data = raw[:-16]
    want = psec.mac.generate_retail_mac(tak[:8], tak[8:], data, 1).hex().upper()
    return decoded.get(mac_field) == want


def tlv(tag, value):
    return tag + "%02X" % (len(value) // 2) + value


# A purchase of 12.34 with fresh card-side values.
stan, amount, atc, un = "000321", "000000001234", "B500", "5A17C3E9"
date_yymmdd, mmdd, hhmmss = "261124", "1124", "103000"
tags = {
    "9F02": amount, "9F03": "000000000000", "9F1A": "0156", "95": "0000000000",
    "5F2A": "0156", "9A": date_yymmdd, "9C": "00", "9F37": un, "82": "1800", "9F36": atc,
}
cvr = "03A00000"
cvn10 = pyemv.cvn.VisaCVN10(imk, imk, imk, pan, psn)
arqc = cvn10.generate_ac(
    *(bytes.fromhex(tags[t]) for t in ("9F02", "9F03", "9F1A", "95", "5F2A", "9A", "9C", "9F37", "82", "9F36")),
    cvr=bytes.fromhex(cvr),
).hex().upper()
field55 = "".join(tlv(t, v) for t, v in tags.items())
field55 += tlv("9F26", arqc) + tlv("9F27", "80") + tlv("9F10", "06010A" + cvr) + tlv("5F34", psn)
pin_block = psec.des.encrypt_tdes_ecb(tpk, psec.pinblock.encode_pinblock_iso_0(pin, pan)).hex().upper()

purchase = {
    "t": "0200", "3": "000000", "4": amount, "7": mmdd + hhmmss, "11": stan,
    "12": hhmmss, "13": mmdd, "22": "051", "23": psn.zfill(3), "25": "00", "35": track2,
    "37": "600000000321", "41": "TERM0001", "42": "SHOP00000000001", "49": "156",
    "52": pin_block, "55": field55,
}
sock = socket.create_connection((host, port), timeout=10)
raw = call(sock, signed(purchase, "64"))
resp, _ = iso8583.decode(bytearray(raw), spec)
check("0210 received", resp.get("t") == "0210", resp.get("t", ""))
check("response code 00", resp.get("39") == "00", resp.get("39", ""))
check("field 11 echoed", resp.get("11") == stan)
check("response MAC verifies (psec)", mac_verifies(raw, resp, "64"))
icc = resp.get("55", "")
arpc_ok = False
if icc.startswith("910A"):
    arpc, arc = icc[4:20], icc[20:24]
    want = cvn10.generate_arpc(bytes.fromhex(arqc), bytes.fromhex(arc)).hex().upper()
    arpc_ok = arpc == want and arc == "3030"
check("ARPC verifies (pyemv, ARC 3030)", arpc_ok, icc)

# The reversal: the original's MTI, STAN and transmission time in field 90.
reversal = {
    "t": "0400", "3": "000000", "4": amount, "7": mmdd + "103005", "11": "000322",
    "22": "051", "25": "00", "35": track2, "37": "600000000321", "41": "TERM0001",
    "42": "SHOP00000000001", "49": "156",
    "90": "0200" + stan + mmdd + hhmmss + "0" * 22,
}
raw = call(sock, signed(reversal, "128"))
resp, _ = iso8583.decode(bytearray(raw), spec)
check("0410 received", resp.get("t") == "0410", resp.get("t", ""))
check("reversal honoured (00)", resp.get("39") == "00", resp.get("39", ""))
mac_field = "128" if "128" in resp else "64"
check("0410 MAC verifies (psec)", mac_verifies(raw, resp, mac_field))
sock.close()
sys.exit(1 if failed else 0)
