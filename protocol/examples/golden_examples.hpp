// The fixed inputs behind protocol/vectors/: one function per golden vector, shared by the
// vector writer (`spindle-proto vectors`) and the golden-vector test, so the committed
// bytes, the encoder and the test can never drift apart silently.
//
// Host-only (uses std::vector); not part of the node build.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spindle/protocol/crypto.hpp"

namespace spindle::examples {

struct Vector {
  std::string file;         // name under protocol/vectors/
  std::string description;  // one paragraph for the vector's .md
  std::vector<std::uint8_t> bytes;
};

// The well-known test signing key (never used outside tests and demos) and its kid.
crypto::EcPrivateKey test_signing_key();
std::string test_signing_kid();
// The well-known test site master secret that device keys are derived from.
std::vector<std::uint8_t> test_master_secret();

// Every golden vector, in a fixed order. Aborts if an encoder fails: the inputs are fixed,
// so a failure is a bug in the encoder, not a runtime condition.
std::vector<Vector> golden_vectors();

}  // namespace spindle::examples
