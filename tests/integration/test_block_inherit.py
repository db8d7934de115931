# SPDX-License-Identifier: GPL-2.0-or-later
"""Inline children inherit cache mode, read-only and force-share, as in QEMU."""


def nodes(qmp):
    return {n["node-name"]: n for n in qmp.cmd("query-named-block-nodes")}


def test_inline_child_inherits_cache_and_read_only(qmp, tmp_path):
    img = tmp_path / "a.raw"
    img.write_bytes(b"\0" * (1 << 20))
    qmp.cmd("blockdev-add", {"driver": "raw", "node-name": "top", "read-only": True,
                             "cache": {"direct": True, "no-flush": True},
                             "file": {"driver": "file", "node-name": "below",
                                      "filename": str(img)}})
    n = nodes(qmp)
    assert n["below"]["cache"]["direct"] is True
    assert n["below"]["cache"]["no-flush"] is True
    assert n["below"]["ro"] is True


def test_child_own_settings_win(qmp, tmp_path):
    img = tmp_path / "b.raw"
    img.write_bytes(b"\0" * (1 << 20))
    qmp.cmd("blockdev-add", {"driver": "raw", "node-name": "top",
                             "cache": {"direct": True},
                             "file": {"driver": "file", "node-name": "below",
                                      "filename": str(img), "cache": {"direct": False}}})
    n = nodes(qmp)
    assert n["top"]["cache"]["direct"] is True
    assert n["below"]["cache"]["direct"] is False
    assert n["below"]["ro"] is False


def test_named_child_is_not_changed(qmp, tmp_path):
    img = tmp_path / "c.raw"
    img.write_bytes(b"\0" * (1 << 20))
    qmp.cmd("blockdev-add", {"driver": "file", "node-name": "f", "filename": str(img)})
    qmp.cmd("blockdev-add", {"driver": "raw", "node-name": "top", "read-only": True,
                             "cache": {"direct": True}, "file": "f"})
    n = nodes(qmp)
    assert n["f"]["cache"]["direct"] is False and n["f"]["ro"] is False
