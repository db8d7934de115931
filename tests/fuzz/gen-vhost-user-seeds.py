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
batch one, put four requests in the ring, to be in flight together.

The log seeds are the dirty-page logging a migrating QEMU turns on:
VHOST_F_LOG_ALL and LOG_SHMFD negotiated, SET_LOG_BASE with a log memfd (the
fuzzer's memfds are 64 KiB, the log it needs 8 bytes), VHOST_VRING_F_LOG and
the used ring's guest address in SET_VRING_ADDR, logging on from the start
or turned on between kicks; and the hostile variants: a log too small for
the memory table, an offset past the fd's end, no fd or two, the feature not
negotiated, SET_LOG_FD, a used-ring log address past the log, and the log
memfd truncated under the back-end before it logs."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
UVA = 0x7f0000000000
RING_AREA = 0x8000            # desc table; avail at +0x800, used at +0x1000
REQ = 0xA000                  # request header, data at +0x100, status at +0x400

GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE = 1, 2, 3, 5
SET_LOG_BASE, SET_LOG_FD = 6, 7
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL = 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
GET_CONFIG, GET_INFLIGHT_FD, SET_INFLIGHT_FD, ADD_MEM_REG = 24, 31, 32, 37

FEATURES = (1 << 32) | (1 << 30) | (1 << 29) | (1 << 28) | (1 << 9) | (1 << 6)
PROTOCOL = (1 << 0) | (1 << 3) | (1 << 9) | (1 << 12) | (1 << 15)
F_LOG_ALL = 1 << 26
PROTOCOL_F_LOG_SHMFD = 1 << 1
VRING_F_LOG = 1
USED_GPA = RING_AREA + 0x1000
LOG_SIZE = 8                  # 64 KiB of guest memory: 2 bytes, in one u64 as QEMU rounds


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


def log_base(size=LOG_SIZE, offset=0, nfds=1, **kw):
    """SET_LOG_BASE: the log's size and its offset in the fd."""
    return msg(SET_LOG_BASE, struct.pack("<QQ", size, offset), nfds=nfds, **kw)


def vring_addr(flags=0, log=0):
    return msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, flags, UVA + RING_AREA,
                                           UVA + RING_AREA + 0x1000, UVA + RING_AREA + 0x800,
                                           log))


def session(write=False, indirect=False, inflight=False, memreg=False, truncate=False,
            asynchronous=False, nreq=1, features=FEATURES, protocol=PROTOCOL,
            after_table=b"", ring_flags=0, log_addr=0, after_kick=b""):
    """A session; @after_table goes right after the memory table, the ring
    is set up with @ring_flags and @log_addr, and @after_kick follows the
    first kick, with a second kick at its end if it has any message."""
    head = b"".join([
        msg(GET_FEATURES, asynchronous=asynchronous),
        msg(SET_FEATURES, struct.pack("<Q", features)),
        msg(GET_PROTOCOL_FEATURES),
        msg(SET_PROTOCOL_FEATURES, struct.pack("<Q", protocol)),
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
        after_table,
        msg(SET_VRING_NUM, struct.pack("<II", 0, 16)),
        vring_addr(ring_flags, log_addr),
        msg(SET_VRING_BASE, struct.pack("<II", 0, 0)),
        # The front-end takes back the guest memory it shared (the memory
        # table's memfd is the last one sent so far): the kick then faults.
        msg(GET_QUEUE_NUM, truncate=True) if truncate else b"",
        msg(SET_VRING_CALL, struct.pack("<Q", 0), nfds=1),
        msg(SET_VRING_KICK, struct.pack("<Q", 0), nfds=1),
        msg(SET_VRING_ENABLE, struct.pack("<II", 0, 1)),
        msg(GET_QUEUE_NUM, kick=True),
        after_kick,
        msg(GET_QUEUE_NUM, kick=True) if after_kick else b"",
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
    log_on = dict(features=FEATURES | F_LOG_ALL, protocol=PROTOCOL | PROTOCOL_F_LOG_SHMFD,
                  ring_flags=VRING_F_LOG, log_addr=USED_GPA)
    shmfd = dict(protocol=PROTOCOL | PROTOCOL_F_LOG_SHMFD)
    seeds.update({
        # logging on from the start, as when a device starts mid-migration
        "s9-log-read": session(after_table=log_base(), **log_on),
        "s10-log-write-indirect-async": session(write=True, indirect=True, asynchronous=True,
                                                nreq=4, after_table=log_base(), **log_on),
        # turned on between kicks, as when a migration starts
        "s11-log-turned-on": session(
            nreq=2, after_kick=log_base() + msg(SET_FEATURES, struct.pack(
                "<Q", FEATURES | F_LOG_ALL)) + vring_addr(VRING_F_LOG, USED_GPA), **shmfd),
        "s12-log-too-small": session(after_table=log_base(size=1), **log_on),
        "s13-log-offset-past-end": session(after_table=log_base(offset=0x20000), **log_on),
        "s14-log-no-fd": session(after_table=log_base(nfds=0), **log_on),
        "s15-log-two-fds": session(after_table=log_base(nfds=2), **log_on),
        "s16-log-no-shmfd": session(after_table=log_base(), features=FEATURES | F_LOG_ALL,
                                    ring_flags=VRING_F_LOG, log_addr=USED_GPA),
        "s17-log-fd": session(after_table=msg(SET_LOG_FD, nfds=1) + log_base(), **log_on),
        "s18-log-used-past-log": session(after_table=log_base(),
                                         **dict(log_on, log_addr=0xffffffff0000)),
        # the log memfd (the last fd sent before the kick) taken back
        "s19-log-truncated": session(
            after_table=log_base() + msg(GET_QUEUE_NUM, truncate=True), **log_on),
        "s20-log-all-without-base": session(features=FEATURES | F_LOG_ALL,
                                            ring_flags=VRING_F_LOG, log_addr=USED_GPA),
    })
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
