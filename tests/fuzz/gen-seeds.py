#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/fuzz/gen-seeds.py — regenerate corpus-qmp/ and corpus-virtq/ (the layouts fuzz-qmp.c and fuzz-virtq.c read).
"""Write the seed inputs of fuzz-qmp and fuzz-virtq next to this script.

Seeds are valid inputs the targets accept, so that mutation starts from
deep paths (a whole request reaching the disk, a value passing the
generated argument checks).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(corpus, name, data):
    d = os.path.join(HERE, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- fuzz-qmp -------------------------------------------------------------
# The keyval pass uses implied key ("driver", "type", "qom-type")[len % 3],
# so keyval seeds are padded with spaces inside a value to the right length.

def keyval(text, implied_index):
    data = text.encode()
    while len(data) % 3 != implied_index:
        data = data.replace(b'PAD', b'PADx', 1) if b'PAD' in data else data + b','
    return data


QMP = {
    'blockdev-add': b'{"execute": "blockdev-add", "arguments": {"driver": "qcow2", '
                    b'"node-name": "q0", "file": {"driver": "file", "filename": "/tmp/x", '
                    b'"aio": "threads", "cache": {"direct": true, "no-flush": false}}, '
                    b'"backing": null, "lazy-refcounts": true, "cache-size": 1048576}}',
    'export-add': b'{"execute": "block-export-add", "arguments": {"type": "vhost-user-blk", '
                  b'"id": "e0", "node-name": "q0", "writable": true, '
                  b'"addr": {"type": "unix", "path": "/tmp/s.sock"}, '
                  b'"logical-block-size": 4096, "num-queues": 4}}',
    'object-add': b'{"execute": "object-add", "arguments": {"qom-type": "secret", '
                  b'"id": "sec0", "data": "c2VjcmV0", "format": "base64"}}',
    'stream': b'{"execute": "qmp_capabilities"}\n{"execute": "device_add", "arguments": '
              b'{"driver": "vhost-user-blk-pci", "id": "d0", "drive": "q0", '
              b'"num-queues": 2, "serial": "abc", "read-only": false}}'
              b'{"driver": "luks", "node-name": "l0", "file": "f0", "key-secret": "sec0"}'
              b' 42 "str" [1, 2, {"a": [true, null]}] ',
    'nested': b'{"driver": "raw", "file": {"driver": "raw", "file": {"driver": "null-co", '
              b'"size": 1073741824, "read-zeroes": true}}}',
    'keyval-blockdev': keyval('qcow2,node-name=q0PAD,file.driver=file,file.filename=/tmp/a,,b,'
                              'backing=,cache.direct=on,file.aio=threads', 0),
    'keyval-export': keyval('vhost-user-blk,id=e0PAD,node-name=q0,addr.type=unix,'
                            'addr.path=/tmp/s,writable=on,num-queues=2,logical-block-size=4k', 1),
    'keyval-object': keyval('secret,id=sec0PAD,data=abc,format=raw', 2),
    'json-object-keyval': keyval('{"driver": "null-co", "node-name": "nPAD", "size": 4096}', 0),
}


# ---- fuzz-virtq -----------------------------------------------------------
# Header: [0] log2 num | EVENT_IDX 0x08 | INDIRECT 0x10 | RO 0x20 | WB 0x40 |
# INFLIGHT 0x80; [1] regions-1 | holes << 2 | lbs << 6; [2..3] base index.
# Then the inflight region, then 16 KiB per region.  The rings sit at the
# start of region 0: desc (16 * num), avail, used (4-aligned).

REGION = 16 * 1024
GPA = 0x100000
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = 0, 1, 4, 8, 11, 13
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


class Guest:
    def __init__(self, log2num, flags=0x40, nregions=1, holes=0, base=0, inflight=None):
        self.num = 1 << log2num
        self.hdr = bytes([log2num | flags | (0x80 if inflight is not None else 0),
                          (nregions - 1) | (holes << 2), base & 0xff, base >> 8])
        self.inflight = inflight or b''
        self.ram = bytearray(REGION * nregions)
        self.gpas = []
        gpa = GPA
        for r in range(nregions):
            if r and (holes >> (r - 1)) & 1:
                gpa += 0x1000
            self.gpas.append(gpa)
            gpa += REGION
        self.avail = 16 * self.num
        self.used = (self.avail + 4 + 2 * self.num + 2 + 3) & ~3
        self.free = (self.used + 4 + 8 * self.num + 2 + 63) & ~63
        self.base = base
        self.nav = 0

    def gpa(self, off):
        """Guest address of byte @off of the concatenated regions."""
        return self.gpas[off // REGION] + off % REGION

    def alloc(self, n):
        off = self.free
        self.free += (n + 15) & ~15
        return off

    def desc(self, table_off, i, addr, length, flags, nxt):
        struct.pack_into('<QIHH', self.ram, table_off + 16 * i, addr, length, flags, nxt)

    def make_avail(self, head):
        idx = self.base + self.nav
        struct.pack_into('<H', self.ram, self.avail + 4 + 2 * (idx % self.num), head)
        self.nav += 1
        struct.pack_into('<H', self.ram, self.avail + 2, (self.base + self.nav) & 0xffff)

    def request(self, head, rtype, sector, data_len=0, writable=True, extra=b''):
        """A three-descriptor request: header, data, status."""
        h = self.alloc(16)
        struct.pack_into('<IIQ', self.ram, h, rtype, 0, sector)
        d = self.alloc(max(data_len, len(extra)))
        self.ram[d:d + len(extra)] = extra
        s = self.alloc(1)
        n = (head + 1) % self.num, (head + 2) % self.num
        self.desc(0, head, self.gpa(h), 16, F_NEXT, n[0])
        self.desc(0, n[0], self.gpa(d), max(data_len, len(extra)),
                  F_NEXT | (F_WRITE if writable else 0), n[1])
        self.desc(0, n[1], self.gpa(s), 1, F_WRITE, 0)
        self.make_avail(head)

    def bytes(self):
        return self.hdr + self.inflight + bytes(self.ram)


def asynchronous(g):
    """@g's input with the disk asynchronous (byte 1, bit 5): its requests in flight together."""
    data = bytearray(g.bytes())
    data[1] |= 0x20
    return bytes(data)


def virtq_seeds():
    g = Guest(4)
    g.request(0, T_OUT, 2, 1024, writable=False, extra=b'W' * 1024)
    g.request(3, T_IN, 2, 1024)
    g.request(6, T_FLUSH, 0, 0)
    g.request(9, T_GET_ID, 0, 20)
    write('corpus-virtq', 's1-rw', g.bytes())
    write('corpus-virtq', 's6-async-rw', asynchronous(g))

    g = Guest(3, flags=0x40 | 0x10 | 0x08)
    t = g.alloc(16 * 3)
    h, d, s = g.alloc(16), g.alloc(512), g.alloc(1)
    struct.pack_into('<IIQ', g.ram, h, T_IN, 0, 5)
    g.desc(t, 0, g.gpa(h), 16, F_NEXT, 1)
    g.desc(t, 1, g.gpa(d), 512, F_NEXT | F_WRITE, 2)
    g.desc(t, 2, g.gpa(s), 1, F_WRITE, 0)
    g.desc(0, 7, g.gpa(t), 48, F_INDIRECT, 0)
    g.make_avail(7)
    seg = struct.pack('<QII', 8, 16, 1)
    g.request(1, T_WZ, 0, 0, writable=False, extra=seg)
    g.request(4, T_DISCARD, 0, 0, writable=False, extra=struct.pack('<QII', 0, 8, 0))
    write('corpus-virtq', 's2-indirect', g.bytes())
    write('corpus-virtq', 's7-async-indirect', asynchronous(g))

    # Inflight: heads 0 and 3 popped by a previous back-end, never completed.
    num = 16
    region = bytearray((16 + 16 * num + 63) & ~63)
    struct.pack_into('<QHHHH', region, 0, 0, 1, num, 0, 0)
    struct.pack_into('<B5xHQ', region, 16 + 16 * 0, 1, 0, 2)
    struct.pack_into('<B5xHQ', region, 16 + 16 * 3, 1, 0, 1)
    g = Guest(4, base=0, inflight=bytes(region))
    g.request(0, T_IN, 0, 512)
    g.request(3, T_OUT, 1, 512, writable=False, extra=b'x' * 512)
    g.request(6, T_IN, 9, 4096)
    write('corpus-virtq', 's3-inflight', g.bytes())
    write('corpus-virtq', 's8-async-inflight', asynchronous(g))

    # Buffers straddling adjacent regions, and one after a hole.
    g = Guest(3, nregions=4, holes=0b100, base=0xfffe)
    h, s = g.alloc(16), g.alloc(1)
    struct.pack_into('<IIQ', g.ram, h, T_OUT, 0, 0)
    g.desc(0, 0, g.gpa(h), 16, F_NEXT, 1)
    g.desc(0, 1, g.gpa(REGION - 512), 1024, F_NEXT, 2)
    g.desc(0, 2, g.gpa(s), 1, F_WRITE, 0)
    g.make_avail(0)
    h2 = 2 * REGION + 64
    struct.pack_into('<IIQ', g.ram, h2, T_IN, 0, 4)
    g.desc(0, 3, g.gpa(h2), 16, F_NEXT, 4)
    g.desc(0, 4, g.gpa(3 * REGION + 128), 2048 + 1, F_WRITE, 0)
    g.make_avail(3)
    write('corpus-virtq', 's4-split-regions', g.bytes())

    # Read-only disk, writethrough, 4 KiB blocks, unknown type, bad sector.
    g = Guest(5, flags=0x20)
    g.hdr = g.hdr[:1] + bytes([3 << 6]) + g.hdr[2:]
    g.request(0, T_OUT, 0, 4096, writable=False, extra=b'r' * 4096)
    g.request(3, 99, 0, 16)
    g.request(6, T_IN, 1 << 40, 512)
    g.request(9, T_IN, 120, 4096)
    write('corpus-virtq', 's5-misc', g.bytes())


if __name__ == '__main__':
    for name, data in QMP.items():
        write('corpus-qmp', name, data)
    virtq_seeds()
