"""COSE_Sign1/ES256 interop: what protocol/ signs verifies with python3-cryptography, and
what python3-cryptography signs (with a COSE structure built by cbor2) verifies in protocol/."""
import os
import tempfile
import unittest

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)

import interop_support as support
from interop_support import tool


def sig_structure(protected, payload, external_aad=b""):
    return cbor2.dumps(["Signature1", protected, external_aad, payload])


def python_verify(public_point, message, external_aad=b""):
    tag = cbor2.loads(message)
    assert tag.tag == 18
    protected, _, payload, signature = tag.value
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_point)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    key.verify(encode_dss_signature(r, s), sig_structure(protected, payload, external_aad),
               ec.ECDSA(hashes.SHA256()))
    return cbor2.loads(protected), payload


def python_sign(private_key, kid, payload):
    protected = cbor2.dumps({1: -7, 4: kid})
    der = private_key.sign(sig_structure(protected, payload), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))


class CoseInterop(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = lambda name: os.path.join(self.dir.name, name)

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def test_golden_decision_verifies_with_its_external_aad_only(self):
        public = support.vector("test_signing_key.pub")
        message = support.vector("decision.cose")
        header, payload = python_verify(public, message, b"spindle-decision-v1")
        self.assertEqual(header, {1: -7, 4: b"spindle-test-2026"})
        self.assertEqual(payload, support.vector("decision.cbor"))
        with self.assertRaises(InvalidSignature):
            python_verify(public, message)

    def test_golden_manifest_verifies_with_python_cryptography(self):
        header, payload = python_verify(support.vector("test_signing_key.pub"),
                                        support.vector("manifest.cose"))
        self.assertEqual(header, {1: -7, 4: b"spindle-test-2026"})
        self.assertEqual(payload, support.vector("manifest.cbor"))

    def test_manifest_signed_by_protocol_verifies_in_python(self):
        tool("keygen", "--private", self.path("k.priv"), "--public", self.path("k.pub"))
        self.write("manifest.cbor", support.vector("manifest.cbor"))
        tool("sign", "--key", self.path("k.priv"), "--kid", "site-key-1", "--in",
             self.path("manifest.cbor"), "--out", self.path("manifest.cose"))
        public = bytes.fromhex(self.read("k.pub").decode())
        header, payload = python_verify(public, self.read("manifest.cose"))
        self.assertEqual(header[4], b"site-key-1")
        self.assertEqual(payload, support.vector("manifest.cbor"))

    def test_python_rejects_protocol_signature_over_altered_payload(self):
        tool("keygen", "--private", self.path("k.priv"), "--public", self.path("k.pub"))
        self.write("m.cbor", support.vector("manifest.cbor"))
        tool("sign", "--key", self.path("k.priv"), "--kid", "k", "--in", self.path("m.cbor"),
             "--out", self.path("m.cose"))
        tag = cbor2.loads(self.read("m.cose"))
        tag.value[2] = tag.value[2][:-1] + bytes([tag.value[2][-1] ^ 1])
        public = bytes.fromhex(self.read("k.pub").decode())
        with self.assertRaises(InvalidSignature):
            python_verify(public, cbor2.dumps(tag))

    def python_key(self):
        key = ec.generate_private_key(ec.SECP256R1())
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        self.write("py.pub", point.hex().encode())
        return key

    def test_manifest_signed_by_python_verifies_in_protocol(self):
        key = self.python_key()
        message = python_sign(key, b"py-key", support.vector("manifest.cbor"))
        self.write("py.cose", message)
        result = tool("verify", "--public", self.path("py.pub"), "--kid", "py-key", "--in",
                      self.path("py.cose"), "--payload-out", self.path("payload"))
        self.assertIn("verified", result.stdout)
        self.assertEqual(self.read("payload"), support.vector("manifest.cbor"))

    def test_protocol_rejects_python_signature_over_altered_payload(self):
        key = self.python_key()
        tag = cbor2.loads(python_sign(key, b"py-key", support.vector("manifest.cbor")))
        tag.value[2] = tag.value[2].replace(b"node-0001", b"node-0002")
        self.write("bad.cose", cbor2.dumps(tag))
        result = tool("verify", "--public", self.path("py.pub"), "--kid", "py-key", "--in",
                      self.path("bad.cose"), check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("bad-signature", result.stderr)

    def test_protocol_rejects_python_signature_under_unknown_kid(self):
        key = self.python_key()
        self.write("other.cose", python_sign(key, b"someone-else", b"payload"))
        result = tool("verify", "--public", self.path("py.pub"), "--kid", "py-key", "--in",
                      self.path("other.cose"), check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("unknown-key", result.stderr)


if __name__ == "__main__":
    support.main()
