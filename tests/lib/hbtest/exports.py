# SPDX-License-Identifier: GPL-2.0-or-later
"""Arguments of block-export-add, as the tests spell them."""


def export_args(eid, node, sock, **kw):
    """A vhost-user-blk export @eid of @node on UNIX socket @sock, plus @kw."""
    args = {"type": "vhost-user-blk", "id": eid, "node-name": node,
            "addr": {"type": "unix", "path": str(sock)}}
    args.update(kw)
    return args
