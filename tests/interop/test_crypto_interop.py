"""Content protection interop with python3-cryptography: AES-CCM-64-128-128 payloads,
RFC 3394 key wrap and HKDF-SHA256 device keys agree byte for byte in both directions."""
import os
import tempfile
import unittest

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

import interop_support as support
from interop_support import tool


class ContentProtectionInterop(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = lambda name: os.path.join(self.dir.name, name)
        self.kek = os.urandom(16)
        with open(self.path("kek"), "w") as f:
            f.write(self.kek.hex())
        # A model-sized payload with structure, not just zeros.
        self.model = bytes((i * 31 + 7) & 0xFF for i in range(70000))
        with open(self.path("model"), "wb") as f:
            f.write(self.model)

    def tearDown(self):
        self.dir.cleanup()

    def test_payload_encrypted_by_protocol_decrypts_in_python(self):
        out = tool("encrypt", "--kek", self.path("kek"), "--in", self.path("model"), "--out",
                   self.path("ct")).stdout.split()
        fields = dict(zip(out[::2], out[1::2]))
        with open(self.path("ct"), "rb") as f:
            ciphertext = f.read()
        self.assertEqual(len(ciphertext), len(self.model) + 16)
        self.assertNotIn(self.model[:64], ciphertext)
        content_key = aes_key_unwrap(self.kek, bytes.fromhex(fields["wrapped_key"]))
        plaintext = AESCCM(content_key, tag_length=16).decrypt(
            bytes.fromhex(fields["nonce"]), ciphertext, None)
        self.assertEqual(plaintext, self.model)

    def test_payload_encrypted_by_python_decrypts_in_protocol(self):
        content_key = AESCCM.generate_key(128)
        nonce = os.urandom(7)
        with open(self.path("ct"), "wb") as f:
            f.write(AESCCM(content_key, tag_length=16).encrypt(nonce, self.model, None))
        tool("decrypt", "--kek", self.path("kek"), "--nonce", nonce.hex(), "--wrapped-key",
             aes_key_wrap(self.kek, content_key).hex(), "--in", self.path("ct"), "--out",
             self.path("pt"))
        with open(self.path("pt"), "rb") as f:
            self.assertEqual(f.read(), self.model)

    def test_protocol_refuses_a_tampered_python_ciphertext(self):
        content_key = AESCCM.generate_key(128)
        nonce = os.urandom(7)
        ciphertext = bytearray(AESCCM(content_key, tag_length=16).encrypt(nonce, self.model, None))
        ciphertext[1000] ^= 0x40
        with open(self.path("ct"), "wb") as f:
            f.write(ciphertext)
        result = tool("decrypt", "--kek", self.path("kek"), "--nonce", nonce.hex(),
                      "--wrapped-key", aes_key_wrap(self.kek, content_key).hex(), "--in",
                      self.path("ct"), "--out", self.path("pt"), check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("authentication-failed", result.stderr)

    def test_protocol_refuses_a_key_wrapped_for_another_device(self):
        content_key = AESCCM.generate_key(128)
        nonce = os.urandom(7)
        with open(self.path("ct"), "wb") as f:
            f.write(AESCCM(content_key, tag_length=16).encrypt(nonce, self.model, None))
        result = tool("decrypt", "--kek", self.path("kek"), "--nonce", nonce.hex(),
                      "--wrapped-key", aes_key_wrap(os.urandom(16), content_key).hex(), "--in",
                      self.path("ct"), "--out", self.path("pt"), check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("authentication-failed", result.stderr)

    def test_device_keys_match_python_hkdf(self):
        master = os.urandom(32)
        with open(self.path("master"), "w") as f:
            f.write(master.hex())
        for purpose, length in (("model-kek", 16), ("dtls-psk", 16), ("attestation", 32)):
            ours = tool("derive", "--master", self.path("master"), "--device", "pump-17",
                        "--purpose", purpose, "--length", str(length)).stdout.strip()
            theirs = HKDF(algorithm=hashes.SHA256(), length=length,
                          salt=b"spindle-device-key-v1",
                          info=purpose.encode() + b"\x00pump-17").derive(master)
            self.assertEqual(ours, theirs.hex(), purpose)


if __name__ == "__main__":
    support.main()
