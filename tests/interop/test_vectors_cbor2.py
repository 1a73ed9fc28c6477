"""Every golden vector in protocol/vectors decodes with python3-cbor2, an independent CBOR
implementation, to exactly the content its description promises."""
import hashlib
import hmac
import os
import unittest

import cbor2

import interop_support as support


def sha256(text):
    return hashlib.sha256(text.encode()).digest()


class GoldenVectorsDecodeWithCbor2(unittest.TestCase):
    def load(self, name):
        # cbor2 refuses trailing bytes only through its stream API: check the whole buffer
        # was one item.
        data = support.vector(name)
        import io
        stream = io.BytesIO(data)
        item = cbor2.CBORDecoder(stream).decode()
        self.assertEqual(stream.tell(), len(data), f"{name} has trailing bytes")
        return item

    def test_every_vector_has_a_description(self):
        for name in os.listdir(support.VECTORS):
            if name.endswith(".md") or name == "README.md":
                continue
            self.assertTrue(os.path.exists(f"{support.VECTORS}/{name}.md"),
                            f"{name} has no description")

    def test_registration(self):
        reg = self.load("registration.cbor")
        self.assertEqual(reg[1], "nrf52840dk")
        self.assertEqual(reg[2], "0.1.0")
        self.assertEqual(reg[3][0], {1: 4, 2: "vib-ae", 3: 3,
                                     4: sha256("spindle example model vib-ae v3")})
        self.assertEqual(reg[3][1], {1: 0})
        self.assertEqual(reg[4], 0)
        self.assertEqual(reg[5], {1: 262144, 2: 32768, 3: 131072, 4: 0x3F})

    def check_manifest(self, m):
        self.assertEqual(m[1], "vib-ae")
        self.assertEqual(m[2], 4)
        self.assertEqual(m[3], "node-0001")
        self.assertEqual(m[4], sha256("spindle example ciphertext vib-ae v4"))
        self.assertEqual(m[5], 12345)
        self.assertEqual(m[6], {1: 33, 2: bytes(range(1, 8)), 3: bytes(range(0xA0, 0xB8))})
        self.assertEqual(m[7], {1: 8192, 2: 16384, 3: 0x1F})
        self.assertEqual(m[8], {1: 8, 2: 3200, 3: 1024, 4: 3})
        self.assertEqual(m[9], 0.75)
        self.assertEqual(m[10], [[0.5 * i, 1.0 + 0.25 * i] for i in range(8)])
        self.assertEqual(m[11], [[bytes([0x00, 0x7F, 0x80, 0x01, 0xFE, 0x10, 0xF0, 0x42]),
                                  bytes([0x17])]])
        self.assertEqual(m[12], {1: 300, 2: 300, 3: m[12][3], 4: 1.5, 5: 0.25, 6: 3.0})
        self.assertAlmostEqual(m[12][3], 0.995, places=6)  # float32
        self.assertEqual(sorted(m), list(range(1, 13)))

    def test_manifest(self):
        self.check_manifest(self.load("manifest.cbor"))

    def test_manifest_cose_structure(self):
        msg = self.load("manifest.cose")
        self.assertIsInstance(msg, cbor2.CBORTag)
        self.assertEqual(msg.tag, 18)
        protected, unprotected, payload, signature = msg.value
        self.assertEqual(cbor2.loads(protected), {1: -7, 4: b"spindle-test-2026"})
        self.assertEqual(unprotected, {})
        self.assertEqual(payload, support.vector("manifest.cbor"))
        self.assertEqual(len(signature), 64)
        self.check_manifest(cbor2.loads(payload))

    def test_status_update(self):
        report = self.load("status_update.cbor")
        # reason 26 is Error::kRollback in status.hpp.
        self.assertEqual(report, {1: 0, 2: "vib-ae", 3: 4, 4: 1, 5: 26,
                                  6: "installed version is 5"})

    def test_status_attestation_mac_is_hmac_over_the_documented_array(self):
        report = self.load("status_attestation.cbor")
        self.assertEqual(report[1], 1)
        self.assertEqual(report[7], bytes(range(0x30, 0x40)))
        self.assertEqual(report[8], sha256("spindle example model vib-ae v3"))
        self.assertEqual(report[9], "0.1.0")
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
        master = sha256("spindle test site master secret")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"spindle-device-key-v1",
                   info=b"attestation\x00node-0001").derive(master)
        message = cbor2.dumps(["spindle-attest-v1", "node-0001", report[7], report[8],
                               report[9]])
        self.assertEqual(report[10], hmac.new(key, message, hashlib.sha256).digest())

    def test_status_calibration_carries_float32_normalization_pairs(self):
        import struct
        report = self.load("status_calibration.cbor")
        self.assertEqual({k: v for k, v in report.items() if k != 17},
                         {1: 2, 2: "vib-ae", 3: 4, 11: 3, 12: 1, 13: 600, 14: 600, 15: 0.8125,
                          16: 0})
        self.assertEqual(struct.unpack("<4f", report[17]), (0.5, 0.25, -1.0, 2.0))

    def test_status_shadow_histograms_add_up_to_the_windows_scored(self):
        report = self.load("status_shadow.cbor")
        self.assertEqual({k: v for k, v in report.items() if k not in (23, 24)},
                         {1: 3, 2: "vib-ae", 3: 5, 11: 3, 18: 128, 19: 100, 20: 97, 21: 1,
                          22: 4, 25: 850, 26: 1400, 27: 6144})
        for key in (23, 24):
            self.assertEqual(len(report[key]), 16)
            self.assertEqual(sum(report[key]), report[18])

    def test_decision_names_the_device_the_action_and_the_manifests_model(self):
        decision = self.load("decision.cbor")
        manifest = self.load("manifest.cbor")
        self.assertEqual(decision, {1: "node-0001", 2: 0, 3: "vib-ae", 4: 4, 5: manifest[4]})

    def test_gateway_request_carries_a_nonce_and_a_capture_request(self):
        request = self.load("gateway_request.cbor")
        self.assertEqual(request, {1: bytes(range(0x30, 0x40)), 2: {1: 7, 2: 1, 3: 2}})

    def test_capture_chunk_holds_little_endian_float32_windows(self):
        import struct
        chunk = self.load("capture_chunk.cbor")
        data = chunk.pop(12)
        self.assertEqual(chunk, {1: 7, 2: 1, 3: 0, 4: 1, 5: 1, 6: 3, 7: "nrf52840dk", 8: 3200,
                                 9: 1024, 10: 3, 11: 45})
        self.assertEqual(list(struct.unpack("<45f", data)), [i / 4 for i in range(45)])

    def test_telemetry_is_senml_with_base_fields_and_sequence_numbers(self):
        pack = self.load("telemetry.cbor")
        self.assertEqual(len(pack), 6)
        first = pack[0]
        self.assertEqual(first[-2], "urn:dev:spindle:node-0001:")  # bn
        self.assertEqual(first[-3], 1763800000)                    # bt
        resolved = []
        bn, bt = "", 0
        for record in pack:
            bn = record.get(-2, bn)
            bt = record.get(-3, bt)
            resolved.append((bn + record[0], record[1], record[2], bt + record.get(6, 0),
                             record["seq"]))
        self.assertEqual(resolved, [
            ("urn:dev:spindle:node-0001:score", "/", 0.125, 1763800000, 41),
            ("urn:dev:spindle:node-0001:latency", "s", 0.00425, 1763800000, 41),
            ("urn:dev:spindle:node-0001:arena_hwm", "B", 6144, 1763800000, 41),
            ("urn:dev:spindle:node-0001:score", "/", 0.9375, 1763800001, 42),
            ("urn:dev:spindle:node-0001:latency", "s", 0.0043, 1763800001, 42),
            ("urn:dev:spindle:node-0001:arena_hwm", "B", 6144, 1763800001, 42),
        ])


if __name__ == "__main__":
    support.main()
