// Provisioning the fleet's devices through the gateway's operator API before a run:
// POST {api}/api/v1/devices with "Authorization: Bearer <token>" and
// {"devices":[{"id":...},...]} in chunks; the answer (200 or 201) carries each device's
// keys, {"devices":[{"id":...,"psk":"<hex>","model_kek":...,"attestation_key":...},...]}.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "spindle/fleet/psk_source.hpp"

namespace spindle::fleet {

inline constexpr std::size_t kProvisionChunk = 500;

// Returns the DTLS PSK of every id, in the order of `ids`. Throws std::runtime_error
// naming the problem (unreachable API, an error status, an answer without a device's psk);
// meant for start-up only.
std::vector<ByteVector> provision_devices(const std::string& api_url, const std::string& token,
                                          const std::vector<std::string>& ids);

}  // namespace spindle::fleet
