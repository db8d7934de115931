#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/fuzz/gen-vhost-user-seeds.py — regenerate corpus-vhost-user/ (the layout fuzz-vhost-user.c reads).
"""Seeds are whole front-end sessions the library accepts (negotiation, a
memory table, a ring set up and kicked with a request in it), so mutation
starts from deep paths.  The memfd a SET_MEM_TABLE carries is filled from
the input at that message's payload, so the ring and request bytes sit at
RING_AREA past it; the zero padding before them parses as a message the
library refuses, which ends the session after the kick.  The async seeds
serve the disk asynchronously (bit 4 of the first record) and, in the
batch one, put four requests in the ring, to be in flight together."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
UVA = 0x7f0000000000
RING_AREA = 0x8000            # desc table; avail at +0x800, used at +0x1000
REQ = 0xA000                  # request header, data at +0x100, status at +0x400

GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE = 1, 2, 3, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL = 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
GET_CONFIG, GET_INFLIGHT_FD, SET_INFLIGHT_FD, ADD_MEM_REG = 24, 31, 32, 37

FEATURES = (1 << 32) | (1 << 30) | (1 << 29) | (1 << 28) | (1 << 9) | (1 << 6)
PROTOCOL = (1 << 0) | (1 << 3) | (1 << 9) | (1 << 12) | (1 << 15)


def msg(request, payload=b"", nfds=0, kick=False, flags=1, truncate=False,
        asynchronous=False):
    ctl = nfds | (4 if kick else 0) | (8 if truncate else 0) | (16 if asynchronous else 0)
    return bytes([ctl]) + struct.pack("<III", request, flags, len(payload)) + payload


def region(gpa, size, uva, offset):
    return struct.pack("<QQQQ", gpa, size, uva, offset)


def ring_memory(write, indirect, nreq=1):
    """Guest memory from RING_AREA on: a 16-entry ring holding @nreq requests
    (request i writes if @write and i is even; its header at REQ + 0x500 * i)."""
    mem = bytearray(0x2000)
    reqs = bytearray()
    for i in range(nreq):
        is_write = write and i % 2 == 0
        area = REQ + 0x500 * i
        if indirect:
            table = 0x1800 + 48 * i
            struct.pack_into("<QIHH", mem, 16 * i, RING_AREA + table, 48, 4, 0)
            base, first = table, 0
        else:
            base, first = 48 * i, 3 * i
        data_flags = 0 if is_write else 2
        struct.pack_into("<QIHH", mem, base, area, 16, 1, first + 1)
        struct.pack_into("<QIHH", mem, base + 16, area + 0x100, 512, 1 | data_flags, first + 2)
        struct.pack_into("<QIHH", mem, base + 32, area + 0x400, 1, 2, 0)
        struct.pack_into("<H", mem, 0x804 + 2 * i, i if indirect else 3 * i)    # avail ring[i]
        req = bytearray(0x500)
        struct.pack_into("<IIQ", req, 0, 1 if is_write else 0, 0, 2 + i)
        req[0x100:0x300] = bytes(range(256)) * 2
        reqs += req
    struct.pack_into("<HH", mem, 0x800, 0, nreq)           # avail: flags, idx
    return bytes(mem), bytes(reqs)


def session(write=False, indirect=False, inflight=False, memreg=False, truncate=False,
            asynchronous=False, nreq=1):
    head = b"".join([
        msg(GET_FEATURES, asynchronous=asynchronous),
        msg(SET_FEATURES, struct.pack("<Q", FEATURES)),
        msg(GET_PROTOCOL_FEATURES),
        msg(SET_PROTOCOL_FEATURES, struct.pack("<Q", PROTOCOL)),
        msg(SET_OWNER),
        msg(GET_QUEUE_NUM),
        msg(GET_CONFIG, struct.pack("<III", 0, 60, 0) + bytes(60)),
    ])
    if inflight:
        head += msg(GET_INFLIGHT_FD, struct.pack("<QQHH", 0, 0, 2, 16) + bytes(4))
    if memreg:
        table = msg(ADD_MEM_REG, struct.pack("<Q", 0) + region(0, 0x10000, UVA, 0), nfds=1)
    else:
        table = msg(SET_MEM_TABLE, struct.pack("<II", 1, 0) + region(0, 0x10000, UVA, 0),
                    nfds=1)
    payload_at = len(head) + 13       # where the memfd's copy of the input starts
    ring = b"".join([
        msg(SET_VRING_NUM, struct.pack("<II", 0, 16)),
        msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 0, UVA + RING_AREA,
                                        UVA + RING_AREA + 0x1000, UVA + RING_AREA + 0x800, 0)),
        msg(SET_VRING_BASE, struct.pack("<II", 0, 0)),
        # The front-end takes back the guest memory it shared (the memory
        # table's memfd is the last one sent so far): the kick then faults.
        msg(GET_QUEUE_NUM, truncate=True) if truncate else b"",
        msg(SET_VRING_CALL, struct.pack("<Q", 0), nfds=1),
        msg(SET_VRING_KICK, struct.pack("<Q", 0), nfds=1),
        msg(SET_VRING_ENABLE, struct.pack("<II", 0, 1)),
        msg(GET_QUEUE_NUM, kick=True),
        msg(GET_VRING_BASE, struct.pack("<II", 0, 0)),
    ])
    data = bytearray(head + table + ring)
    mem, req = ring_memory(write, indirect, nreq)
    end = payload_at + RING_AREA
    assert len(data) < end
    data += bytes(end - len(data)) + mem
    data += bytes(payload_at + REQ - len(data)) + req
    return bytes(data)


def main():
    d = os.path.join(HERE, "corpus-vhost-user")
    os.makedirs(d, exist_ok=True)
    seeds = {
        "s1-read": session(),
        "s2-write-indirect": session(write=True, indirect=True),
        "s3-inflight": session(inflight=True),
        "s4-add-mem-reg": session(write=True, memreg=True),
        "s5-truncate": session(truncate=True),
        "s6-async-read": session(asynchronous=True),
        "s7-async-batch": session(write=True, asynchronous=True, nreq=4),
        "s8-async-batch-indirect": session(write=True, indirect=True, asynchronous=True,
                                           nreq=4),
    }
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
