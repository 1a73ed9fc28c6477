#include "spindle/fleet/fleet.hpp"

#include <coap3/coap.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <queue>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "fleet_engine_private.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/protocol/registration.hpp"

namespace spindle::fleet {

std::string_view request_kind_name(RequestKind kind) {
  // Indexed by RequestKind.
  constexpr std::array<std::string_view, kRequestKinds> kNames = {"register", "refresh", "observe",
                                                                  "telemetry"};
  const auto index = static_cast<std::size_t>(kind);
  return index < kNames.size() ? kNames[index] : "?";
}

std::uint64_t RequestStats::errored() const {
  std::uint64_t total = 0;
  for (const auto& [name, count] : errors)
    total += count;
  return total;
}

bool FleetReport::success() const {
  const auto clean = [this](RequestKind kind) {
    return stats(kind).errored() == 0 && stats(kind).timed_out == 0;
  };
  return !interrupted && registered == devices && clean(RequestKind::kTelemetry) &&
         clean(RequestKind::kRefresh);
}

void check_config(const FleetConfig& config) {
  if (!(config.rate > 0) || !std::isfinite(config.rate)) {
    throw std::invalid_argument("--rate must be > 0 (telemetry requests per second, all devices)");
  }
  if (!(config.connect_rate > 0) || !std::isfinite(config.connect_rate)) {
    throw std::invalid_argument("--connect-rate must be > 0 (registrations started per second)");
  }
  if (config.max_in_flight == 0) throw std::invalid_argument("--max-in-flight must be > 0");
  if (config.readings_per_post == 0) {
    throw std::invalid_argument("--readings-per-post must be > 0");
  }
  if (config.register_timeout.count() <= 0) {
    throw std::invalid_argument("--register-timeout must be > 0");
  }
  if (config.request_timeout.count() <= 0) {
    throw std::invalid_argument("--request-timeout must be > 0");
  }
  if (config.duration.count() < 0) throw std::invalid_argument("--duration must be >= 0");
}

unsigned max_readings_per_post(std::string_view longest_device_id) {
  std::vector<senml::Record> scratch;
  std::array<std::uint8_t, kMaxPackBytes> buffer{};
  unsigned fits = 0;
  // Worst case within 2^32 readings: 5-byte seqs, every value and time a double.
  for (unsigned count = 1; count <= 64; ++count) {
    const ReadingBatch batch{.device_id = longest_device_id,
                             .first_seq = 0xFFFF'0000ULL,
                             .count = count,
                             .now_unix_s = 4102444800.123,
                             .reading_interval_s = 0.37,
                             .uptime_s = 1e9 + 0.5};
    if (!encode_readings(batch, scratch, buffer).ok()) break;
    fits = count;
  }
  return fits;
}

// ---- the public face ----

Fleet::Fleet(FleetConfig config, std::vector<DeviceSpec> devices)
    : engine_(std::make_unique<Engine>(std::move(config), std::move(devices))) {}

Fleet::~Fleet() = default;

FleetReport Fleet::run(const volatile std::sig_atomic_t* stop) {
  return engine_->run(stop);
}

}  // namespace spindle::fleet
