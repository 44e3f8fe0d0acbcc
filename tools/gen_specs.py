#!/usr/bin/env python3
"""Generates src/protocol/iso8583/dialects/iso87-{ascii,binary}.ron from pyiso8583.

The built-in dialects must match pyiso8583's `specs.default_ascii` and
`specs.default` exactly (PROTOCOL.md section 2), so they are generated from it
rather than typed by hand. The field kinds (used to validate characters) come
from ISO 8583:1987 and are listed here. Run: python3 tools/gen_specs.py
"""
from iso8583 import specs
import pathlib

NUMERIC = set(range(2, 28)) | {32, 33, 53} | set(range(66, 91)) | {99, 100}
TRACK = {35, 36}
ALNUM = {37, 38, 39, 40, 44, 49, 50, 51}
BINARY = {52, 55, 64, 65, 96, 128}

def kind(n):
    if n in BINARY: return "B"
    if n in NUMERIC: return "N"
    if n in TRACK: return "Z"
    if n in ALNUM: return "An"
    return "Ans"

def field(n, f, binary_spec):
    lt, ml = f["len_type"], f["max_len"]
    extra = ""
    if n in BINARY:
        if binary_spec:
            extra = ", encoding: Binary"
        else:
            # pyiso8583 carries these as hex text: lengths count characters.
            ml //= 2
            extra = ", encoding: Hex" + (", count: Wire" if lt else "")
    length = {0: f"Fixed({ml})", 2: f"LLVar({ml})", 3: f"LLLVar({ml})"}[lt]
    return f'        {n}: (name: "{f["desc"]}", kind: {kind(n)}, length: {length}{extra}),'

for name, spec, binary in [("iso87-ascii", specs.default_ascii, False), ("iso87-binary", specs.default, True)]:
    desc = ("ISO 8583:1987, ASCII MTI and fields, bitmaps and binary fields (52, 55, 64, 128) as upper-case hex characters; pyiso8583 specs.default_ascii"
            if not binary else
            "ISO 8583:1987, ASCII MTI and fields, binary bitmaps and binary fields (52, 55, 64, 128); pyiso8583 specs.default")
    lines = [
        f"// {name}: generated from pyiso8583 4.0.1 by tools/gen_specs.py. Copy this file to",
        "// describe another acquirer's dialect and load it with --spec FILE.ron.",
        "MessageSpec(",
        f'    name: "{name}",',
        f'    description: "{desc}",',
        "    mti: Ascii,",
        f"    bitmap: {'Binary' if binary else 'Hex'},",
        "    fields: {",
    ]
    for n in range(2, 129):
        lines.append(field(n, spec[str(n)], binary))
    lines += ["    },", ")", ""]
    out = pathlib.Path(__file__).resolve().parent.parent / "src/protocol/iso8583/dialects" / f"{name}.ron"
    out.write_text("\n".join(lines))
    print("wrote", out)
