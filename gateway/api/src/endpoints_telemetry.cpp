// The operator API's telemetry and event queries (docs/gateway/api.md).
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "endpoints_private.hpp"
#include "http_api_private.hpp"
#include "json_views_private.hpp"
#include "spindle/protocol/senml.hpp"

namespace spindle::gateway {

using api::Answer;
using api::json_answer;

namespace {

constexpr std::size_t kMaxEventKindSize = 64;

}  // namespace

Answer HttpApi::Impl::query_telemetry(const httplib::Request& request, const std::string&) {
  if (auto bad =
          api::check_parameters(request, {"device", "name", "from", "to", "after", "limit"})) {
    return *bad;
  }
  TelemetryQuery query;
  std::int64_t after = 0;
  std::int64_t limit = api::kDefaultQueryLimit;
  if (auto bad = api::read_id(request, "device", query.device_id)) return *bad;
  if (auto bad = api::read_text(request, "name", senml::kMaxNameSize, query.name)) return *bad;
  if (auto bad = api::read_number(request, "from", query.from)) return *bad;
  if (auto bad = api::read_number(request, "to", query.to)) return *bad;
  if (auto bad = api::read_integer(request, "after", 0, api::kInt64Max, after)) return *bad;
  if (auto bad = api::read_integer(request, "limit", 1, api::kMaxQueryLimit, limit)) return *bad;
  query.after_id = after;
  query.limit = static_cast<std::size_t>(limit) + 1;  // one more: is there a next page?

  const auto records = read_store([&query](Store& store) { return store.query_telemetry(query); });
  if (!records.ok()) return api::read_failed(records.status());
  return json_answer(api::kHttpOk, api::page(*records, static_cast<std::size_t>(limit), "records",
                                             api::telemetry_view));
}

Answer HttpApi::Impl::query_events(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request,
                                       {"device", "kind", "from_ms", "to_ms", "after", "limit"})) {
    return *bad;
  }
  EventQuery query;
  std::int64_t after = 0;
  std::int64_t limit = api::kDefaultQueryLimit;
  if (auto bad = api::read_id(request, "device", query.device_id)) return *bad;
  if (auto bad = api::read_text(request, "kind", kMaxEventKindSize, query.kind)) return *bad;
  if (auto bad =
          api::read_integer(request, "from_ms", api::kInt64Min, api::kInt64Max, query.from_ms)) {
    return *bad;
  }
  if (auto bad = api::read_integer(request, "to_ms", api::kInt64Min, api::kInt64Max, query.to_ms)) {
    return *bad;
  }
  if (auto bad = api::read_integer(request, "after", 0, api::kInt64Max, after)) return *bad;
  if (auto bad = api::read_integer(request, "limit", 1, api::kMaxQueryLimit, limit)) return *bad;
  query.after_id = after;
  query.limit = static_cast<std::size_t>(limit) + 1;

  const auto events = read_store([&query](Store& store) { return store.query_events(query); });
  if (!events.ok()) return api::read_failed(events.status());
  return json_answer(
      api::kHttpOk, api::page(*events, static_cast<std::size_t>(limit), "events", api::event_view));
}

}  // namespace spindle::gateway
