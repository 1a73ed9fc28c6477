"""Content protection interop with python3-cryptography: AES-CCM-64-128-128 payloads
bound to their model id (the associated data), RFC 3394 key wrap and HKDF-SHA256 device
keys agree byte for byte in both directions."""
import os
import tempfile
import unittest

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

import interop_support as support
from interop_support import tool


MODEL_ID = "vib-ae"


def seal(content_key, nonce, model_id, plaintext):
    """The model payload rule, written independently: AES-CCM, 16-byte tag, 7-byte nonce,
    the model id's UTF-8 bytes as associated data."""
    return AESCCM(content_key, tag_length=16).encrypt(nonce, plaintext, model_id.encode())


def open_payload(content_key, nonce, model_id, sealed):
    return AESCCM(content_key, tag_length=16).decrypt(nonce, sealed, model_id.encode())


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

    def decrypt(self, nonce, wrapped_key, model_id=MODEL_ID):
        return tool("decrypt", "--kek", self.path("kek"), "--model-id", model_id, "--nonce",
                    nonce.hex(), "--wrapped-key", wrapped_key.hex(), "--in", self.path("ct"),
                    "--out", self.path("pt"), check=False)

    def test_what_spindle_proto_encrypts_for_a_device_decrypts_in_python(self):
        # The device's KEK as the gateway derives it, then encrypt as an operator would.
        master = os.urandom(32)
        with open(self.path("master"), "w") as f:
            f.write(master.hex())
        kek_hex = tool("derive", "--master", self.path("master"), "--device", "pump-17",
                       "--purpose", "model-kek").stdout.strip()
        with open(self.path("kek"), "w") as f:
            f.write(kek_hex)
        out = tool("encrypt", "--kek", self.path("kek"), "--model-id", MODEL_ID, "--in",
                   self.path("model"), "--out", self.path("ct")).stdout.split()
        fields = dict(zip(out[::2], out[1::2]))
        self.assertEqual(sorted(fields), ["nonce", "wrapped_key"])
        nonce = bytes.fromhex(fields["nonce"])
        self.assertEqual(len(nonce), 7)
        with open(self.path("ct"), "rb") as f:
            ciphertext = f.read()
        self.assertEqual(len(ciphertext), len(self.model) + 16)
        self.assertNotIn(self.model[:64], ciphertext)
        content_key = aes_key_unwrap(bytes.fromhex(kek_hex), bytes.fromhex(fields["wrapped_key"]))
        self.assertEqual(open_payload(content_key, nonce, MODEL_ID, ciphertext), self.model)
        # Bound to the id: without associated data or under another id it does not open.
        for other in (None, b"", b"vib-ae2", b"VIB-AE"):
            with self.assertRaises(InvalidTag, msg=repr(other)):
                AESCCM(content_key, tag_length=16).decrypt(nonce, ciphertext, other)

    def test_encrypt_and_decrypt_require_a_model_id(self):
        result = tool("encrypt", "--kek", self.path("kek"), "--in", self.path("model"), "--out",
                      self.path("ct"), check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--model-id", result.stderr)
        result = tool("encrypt", "--kek", self.path("kek"), "--model-id", "", "--in",
                      self.path("model"), "--out", self.path("ct"), check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("--model-id must not be empty", result.stderr)
        result = tool("decrypt", "--kek", self.path("kek"), "--nonce", "00" * 7,
                      "--wrapped-key", "00" * 24, "--in", self.path("model"), "--out",
                      self.path("pt"), check=False)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--model-id", result.stderr)
        self.assertFalse(os.path.exists(self.path("ct")))

    def test_payload_encrypted_by_python_decrypts_in_protocol(self):
        content_key = AESCCM.generate_key(128)
        nonce = os.urandom(7)
        with open(self.path("ct"), "wb") as f:
            f.write(seal(content_key, nonce, MODEL_ID, self.model))
        result = self.decrypt(nonce, aes_key_wrap(self.kek, content_key))
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(self.path("pt"), "rb") as f:
            self.assertEqual(f.read(), self.model)

    def test_protocol_refuses_a_python_payload_under_another_model_id(self):
        content_key = AESCCM.generate_key(128)
        nonce = os.urandom(7)
        with open(self.path("ct"), "wb") as f:
            f.write(seal(content_key, nonce, MODEL_ID, self.model))
        result = self.decrypt(nonce, aes_key_wrap(self.kek, content_key), model_id="vib-ae2")
        self.assertEqual(result.returncode, 1)
        self.assertIn("authentication-failed", result.stderr)
        # Nor does a payload sealed without associated data open as a model's.
        with open(self.path("ct"), "wb") as f:
            f.write(AESCCM(content_key, tag_length=16).encrypt(nonce, self.model, None))
        result = self.decrypt(nonce, aes_key_wrap(self.kek, content_key))
        self.assertEqual(result.returncode, 1)
        self.assertIn("authentication-failed", result.stderr)

    def test_protocol_refuses_a_tampered_python_ciphertext(self):
        content_key = AESCCM.generate_key(128)
        nonce = os.urandom(7)
        ciphertext = bytearray(seal(content_key, nonce, MODEL_ID, self.model))
        ciphertext[1000] ^= 0x40
        with open(self.path("ct"), "wb") as f:
            f.write(ciphertext)
        result = self.decrypt(nonce, aes_key_wrap(self.kek, content_key))
        self.assertEqual(result.returncode, 1)
        self.assertIn("authentication-failed", result.stderr)

    def test_protocol_refuses_a_key_wrapped_for_another_device(self):
        content_key = AESCCM.generate_key(128)
        nonce = os.urandom(7)
        with open(self.path("ct"), "wb") as f:
            f.write(seal(content_key, nonce, MODEL_ID, self.model))
        result = self.decrypt(nonce, aes_key_wrap(os.urandom(16), content_key))
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
