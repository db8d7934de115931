# SPDX-License-Identifier: GPL-2.0-or-later
"""Secrets as libvirt hands them to QEMU: AES-256-CBC under a master key."""
import base64
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def libvirt_encrypt(key, iv, plaintext):
    """AES-256-CBC with PKCS#7 as libvirt encrypts secrets for QEMU."""
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def encrypted_secret_args(tmp, sid, plaintext, master_id="mk"):
    """A master key file in @tmp (base64, for a secret object @master_id)
    and object-add arguments of secret @sid holding @plaintext encrypted
    under it: (master key path, arguments)."""
    key, iv = os.urandom(32), os.urandom(16)
    master = tmp / f"{master_id}.key"
    master.write_text(base64.b64encode(key).decode())
    return master, {"qom-type": "secret", "id": sid, "format": "base64", "keyid": master_id,
                    "iv": base64.b64encode(iv).decode(),
                    "data": libvirt_encrypt(key, iv, plaintext)}
