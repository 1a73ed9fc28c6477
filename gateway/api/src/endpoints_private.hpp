// What the endpoint handlers of the operator API share (the handlers are defined by family
// in endpoints_devices.cpp, endpoints_models.cpp, endpoints_telemetry.cpp and
// endpoints_captures.cpp): query limits and the answers for failures every family meets.
// Private to gateway/api.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "request_private.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway::api {

inline constexpr std::size_t kMaxBatchEntries = 1000;
inline constexpr std::int64_t kDefaultQueryLimit = 1000;
inline constexpr std::int64_t kMaxQueryLimit = 10000;
inline constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
inline constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

// "devices[3]": names an entry of a request body's array in messages.
inline std::string index_name(const char* member, std::size_t index) {
  return std::string(member) + "[" + std::to_string(index) + "]";
}

// 500 for a store that could not be read.
inline Answer read_failed(Status status) {
  return error_answer(api::kHttpInternalError, std::string("reading the store failed (") +
                                                   status.name() + "): see the gateway log");
}

// 503 for a full write queue (with Retry-After) or a gateway shutting down, else 500.
inline Answer write_failed(Status status) {
  switch (status.error()) {
    case Error::kFull: {
      Answer answer = error_answer(api::kHttpUnavailable,
                                   "the gateway's write queue is full: retry in a moment");
      answer.headers.emplace_back("Retry-After", "1");
      return answer;
    }
    case Error::kUnavailable:
      return error_answer(api::kHttpUnavailable, "the gateway is shutting down");
    default:
      return error_answer(api::kHttpInternalError, std::string("writing to the store failed (") +
                                                       status.name() + "): see the gateway log");
  }
}

// 400 for an id in the path that fails check_id; `what` is "device id", say.
inline Answer bad_path_id(const std::string& what, const std::string& id) {
  return error_answer(
      api::kHttpBadRequest,
      what + " \"" + id.substr(0, 64) + "\" in the path is not a valid id: " + api::id_rule());
}

// 404 for a device that was not provisioned.
inline Answer unknown_device(const std::string& id) {
  return error_answer(api::kHttpNotFound,
                      "no device \"" + id + "\": provision it with POST /api/v1/devices");
}

// The first `limit` records (all by default) rendered by `view`, as a JSON array.
template <typename Record, typename View>
nlohmann::json views(const std::vector<Record>& records, View view,
                     std::size_t limit = std::numeric_limits<std::size_t>::max()) {
  nlohmann::json items = nlohmann::json::array();
  for (std::size_t i = 0; i < records.size() && i < limit; ++i)
    items.push_back(view(records[i]));
  return items;
}

// The first `limit` items, rendered, and where the next page starts (null on the last
// page). The store was asked for limit + 1 items so that the last page is recognised.
template <typename Record, typename View>
nlohmann::json page(const std::vector<Record>& records, std::size_t limit, const char* member,
                    View view) {
  nlohmann::json items = views(records, view, limit);
  nlohmann::json next = nullptr;
  if (records.size() > limit) next = records[limit - 1].id;
  return {{member, std::move(items)}, {"next_after", std::move(next)}};
}

}  // namespace spindle::gateway::api
