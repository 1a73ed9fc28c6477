// bench/protocol: what protocol/'s strict, non-allocating codecs and COSE verification cost,
// each against a baseline measured the same way in the same run:
//   decode  vs  libcbor's generic allocating decoder (cbor_load + cbor_decref), which only
//               parses and builds a tree, checking no schema at all;
//   encode  vs  libcbor's generic encoder serializing the same (pre-built) item tree;
//   COSE verify (decode + Sig_structure hash + key parse + ECDSA)  vs  a bare mbedTLS
//               ECDSA P-256 verify of a precomputed digest with a pre-loaded key.
// Prints the median of several runs of ns/op and the ratio. Usage:
//   bench_protocol [--runs N] [--min-ms M]
#include <cbor.h>
#include <mbedtls/ecdsa.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "golden_examples.hpp"
#include "median_timer.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/protocol/registration.hpp"
#include "spindle/protocol/senml.hpp"
#include "spindle/protocol/status_report.hpp"

using namespace spindle;
using Clock = std::chrono::steady_clock;

namespace {

int g_runs = 7;
double g_min_ms = 100.0;
volatile std::size_t g_sink = 0;  // keeps results observable so nothing is optimised away

double median_ns(const std::function<void()>& op) {
  return spindle::bench::median_ns({g_runs, g_min_ms}, op);
}

void row(const std::string& what, std::size_t bytes, double ours, double baseline) {
  std::printf("| %-32s | %5zu | %10.1f | %10.1f | %6.2f |\n", what.c_str(), bytes, ours, baseline,
              ours / baseline);
}

std::vector<std::uint8_t> vector_bytes(const std::string& name) {
  for (auto& v : examples::golden_vectors()) {
    if (v.file == name) return v.bytes;
  }
  std::fprintf(stderr, "no golden vector %s\n", name.c_str());
  std::exit(1);
}

double libcbor_load(const std::vector<std::uint8_t>& bytes) {
  return median_ns([&] {
    cbor_load_result result;
    cbor_item_t* item = cbor_load(bytes.data(), bytes.size(), &result);
    g_sink = g_sink + result.read;
    cbor_decref(&item);
  });
}

double libcbor_serialize(const std::vector<std::uint8_t>& bytes) {
  cbor_load_result result;
  cbor_item_t* item = cbor_load(bytes.data(), bytes.size(), &result);
  std::vector<std::uint8_t> out(bytes.size() * 2 + 64);
  const double ns =
      median_ns([&] { g_sink = g_sink + cbor_serialize(item, out.data(), out.size()); });
  cbor_decref(&item);
  return ns;
}

template <typename Decode>
void codec_rows(const std::string& name, const std::vector<std::uint8_t>& bytes, Decode decode) {
  row(name + " decode", bytes.size(), median_ns([&] { g_sink = g_sink + decode(bytes); }),
      libcbor_load(bytes));
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--runs") == 0) g_runs = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--min-ms") == 0) g_min_ms = std::atof(argv[i + 1]);
  }
  std::printf("bench_protocol: median of %d runs, >= %.0f ms each; ns per operation\n\n", g_runs,
              g_min_ms);
  std::printf("| %-32s | %5s | %10s | %10s | %6s |\n", "operation", "bytes", "spindle", "baseline",
              "ratio");
  std::printf("|----------------------------------|-------|------------|------------|--------|\n");

  const auto registration_bytes = vector_bytes("registration.cbor");
  const auto manifest_bytes = vector_bytes("manifest.cbor");
  const auto telemetry_bytes = vector_bytes("telemetry.cbor");
  const auto attestation_bytes = vector_bytes("status_attestation.cbor");
  const auto cose_bytes = vector_bytes("manifest.cose");

  codec_rows("registration", registration_bytes,
             [](const auto& b) { return registration::decode(b).ok() ? 1U : 0U; });
  codec_rows("manifest", manifest_bytes,
             [](const auto& b) { return manifest::decode(b).ok() ? 1U : 0U; });
  codec_rows("status (attestation)", attestation_bytes,
             [](const auto& b) { return status_report::decode(b).ok() ? 1U : 0U; });
  codec_rows("telemetry (SenML, 6 rec.)", telemetry_bytes, [](const auto& b) {
    std::array<senml::Record, 16> records{};
    return senml::decode(b, records).ok() ? 1U : 0U;
  });

  {
    const auto m = *manifest::decode(manifest_bytes);
    std::array<std::uint8_t, 1024> out{};
    row("manifest encode", manifest_bytes.size(),
        median_ns([&] { g_sink = g_sink + manifest::encode(m, out)->size(); }),
        libcbor_serialize(manifest_bytes));
  }
  {
    std::array<senml::Record, 16> records{};
    const std::size_t n = *senml::decode(telemetry_bytes, records);
    std::array<std::uint8_t, 1024> out{};
    row("telemetry encode", telemetry_bytes.size(), median_ns([&] {
          g_sink = g_sink + senml::encode({records.data(), n}, out)->size();
        }),
        libcbor_serialize(telemetry_bytes));
  }

  // COSE verify against bare mbedTLS ECDSA verify.
  crypto::EcPublicKey pub{};
  if (!crypto::ec_public_from_private(examples::test_signing_key(), &pub).ok()) return 1;
  const std::string kid = examples::test_signing_kid();
  const cose::TrustedKey trusted{crypto::as_bytes(kid), pub};
  const double ours = median_ns([&] {
    g_sink = g_sink + (cose::verify(cose_bytes, {&trusted, 1}).ok() ? 1U : 0U);
  });
  const auto sign1 = *cose::decode(cose_bytes);
  const crypto::Digest digest =
      cose::sig_structure_digest(sign1.protected_header, {}, sign1.payload);
  mbedtls_ecp_group group;
  mbedtls_ecp_point q;
  mbedtls_mpi r, s;
  mbedtls_ecp_group_init(&group);
  mbedtls_ecp_point_init(&q);
  mbedtls_mpi_init(&r);
  mbedtls_mpi_init(&s);
  mbedtls_ecp_group_load(&group, MBEDTLS_ECP_DP_SECP256R1);
  mbedtls_ecp_point_read_binary(&group, &q, pub.data(), pub.size());
  mbedtls_mpi_read_binary(&r, sign1.signature.data(), 32);
  mbedtls_mpi_read_binary(&s, sign1.signature.data() + 32, 32);
  const double bare = median_ns([&] {
    g_sink =
        g_sink +
        (mbedtls_ecdsa_verify(&group, digest.data(), digest.size(), &q, &r, &s) == 0 ? 1U : 0U);
  });
  row("COSE_Sign1 verify (manifest)", cose_bytes.size(), ours, bare);
  std::printf("\nCOSE_Sign1 verifications per second: %.0f (bare mbedTLS ECDSA: %.0f)\n",
              1e9 / ours, 1e9 / bare);
  mbedtls_mpi_free(&r);
  mbedtls_mpi_free(&s);
  mbedtls_ecp_point_free(&q);
  mbedtls_ecp_group_free(&group);
  return 0;
}
