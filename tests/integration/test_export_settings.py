# SPDX-License-Identifier: GPL-2.0-or-later
"""Export settings are checked in one place (export/export.c), so
block-export-add and device_add refuse the same bad values with the same
texts, and a refused export leaves nothing behind."""
import os

import pytest

MiB = 1 << 20
LBS_TEXT = "Property 'logical-block-size' must be a power of 2 between 512 and 32768"
BAD = [
    ({"num-queues": 0}, "num-queues must be greater than 0"),
    ({"num-queues": 1025}, "num-queues must be at most"),
    ({"logical-block-size": 1000}, LBS_TEXT),
    ({"logical-block-size": 256}, LBS_TEXT),
    ({"logical-block-size": 65536}, LBS_TEXT),
    ({"logical-block-size": 1 << 40}, LBS_TEXT),
]


@pytest.fixture
def node(qmp):
    qmp.cmd("blockdev-add", {"driver": "null-co", "node-name": "n0", "size": MiB})
    return "n0"


def assert_nothing_left(daemon, qmp, path):
    assert qmp.cmd("query-block-exports") == []
    assert not os.path.exists(path)


@pytest.mark.parametrize("setting,text", BAD)
def test_block_export_add_refuses(daemon, qmp, node, tmp_path, setting, text):
    sock = tmp_path / "e.sock"
    cls, desc = qmp.err("block-export-add", {"type": "vhost-user-blk", "id": "e0",
                                             "node-name": node, **setting,
                                             "addr": {"type": "unix", "path": str(sock)}})
    assert cls == "GenericError" and desc.startswith(text), desc
    assert_nothing_left(daemon, qmp, sock)


@pytest.mark.parametrize("setting,text", BAD)
def test_device_add_refuses_alike(daemon, qmp, node, setting, text):
    cls, desc = qmp.err("device_add", {"driver": "vhost-user-blk-pci", "drive": node,
                                       "id": "d0", **setting})
    assert cls == "GenericError" and desc.startswith(text), desc
    assert_nothing_left(daemon, qmp, daemon.export_dir / "d0.sock")


@pytest.mark.parametrize("n", [0, 65])
def test_iothreads_range(daemon, qmp, node, tmp_path, n):
    sock = tmp_path / "e.sock"
    cls, desc = qmp.err("block-export-add", {"type": "vhost-user-blk", "id": "e0",
                                             "node-name": node, "iothreads": n,
                                             "addr": {"type": "unix", "path": str(sock)}})
    assert desc == "iothreads must be between 1 and 64"
    assert_nothing_left(daemon, qmp, sock)
