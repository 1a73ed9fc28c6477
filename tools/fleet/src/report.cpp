#include "spindle/fleet/report.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace spindle::fleet {
namespace {

constexpr RequestKind kKinds[] = {RequestKind::kRegister, RequestKind::kObserve,
                                  RequestKind::kRefresh, RequestKind::kTelemetry};

double ms(std::uint64_t micros) {
  return static_cast<double>(micros) / 1000.0;
}

double per_second(double count, double seconds) {
  return seconds > 0 ? count / seconds : 0.0;
}

std::string fixed(double value, int decimals) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string joined(const std::map<std::string, std::uint64_t>& counts) {
  std::string out;
  for (const auto& [name, count] : counts) {
    if (!out.empty()) out += ", ";
    out += name + " x" + std::to_string(count);
  }
  return out.empty() ? "-" : out;
}

nlohmann::json latency_json(const LatencyHistogram& h) {
  if (h.count() == 0) return nullptr;
  return {{"count", h.count()},
          {"p50", ms(h.percentile(0.50))},
          {"p90", ms(h.percentile(0.90))},
          {"p99", ms(h.percentile(0.99))},
          {"max", ms(h.max())}};
}

}  // namespace

double sent_telemetry_rate(const FleetReport& report) {
  return per_second(static_cast<double>(report.stats(RequestKind::kTelemetry).sent),
                    report.telemetry_seconds);
}

double achieved_telemetry_rate(const FleetReport& report) {
  const double seconds = std::max(report.telemetry_seconds, report.telemetry_active_seconds);
  return per_second(static_cast<double>(report.stats(RequestKind::kTelemetry).acknowledged),
                    seconds);
}

void print_report(const FleetConfig& config, const FleetReport& r, std::ostream& out) {
  out << "spindle-fleet: " << r.devices << " devices against " << config.gateway_uri << "\n";
  out << "  registered   " << r.registered << " / " << r.devices << ", failed " << r.failed;
  if (!r.failure_reasons.empty()) out << " (" << joined(r.failure_reasons) << ")";
  out << "\n  registration " << fixed(r.registration_seconds, 2) << " s, "
      << fixed(per_second(static_cast<double>(r.registered), r.registration_seconds), 1)
      << " registrations/s\n";
  out << "  telemetry    " << fixed(r.telemetry_seconds, 2) << " s (+" << fixed(r.drain_seconds, 2)
      << " s drain): " << fixed(config.rate, 1) << " requests/s offered, "
      << fixed(sent_telemetry_rate(r), 1) << " sent, " << fixed(achieved_telemetry_rate(r), 1)
      << " acknowledged; " << r.readings_sent << " readings\n";
  if (config.observe) {
    out << "  observe      " << r.observe_responses << " responses (" << r.observe_notifications
        << " notifications)\n";
  }
  if (r.late_responses != 0 || r.icmp_errors != 0) {
    out << "  late answers " << r.late_responses << ", ICMP errors " << r.icmp_errors << "\n";
  }
  if (r.interrupted) out << "  interrupted: the run was stopped by a signal\n";
  if (r.hit_hard_deadline) out << "  stopped at the hard deadline\n";

  char line[160];
  std::snprintf(line, sizeof line, "\n  %-10s %9s %9s %9s %9s %9s %9s %9s %9s\n", "request", "sent",
                "2.xx", "errors", "timeouts", "p50 ms", "p90 ms", "p99 ms", "max ms");
  out << line;
  for (const RequestKind kind : kKinds) {
    const RequestStats& s = r.stats(kind);
    if (s.sent == 0) continue;
    const LatencyHistogram& h = s.latency;
    std::snprintf(
        line, sizeof line, "  %-10s %9llu %9llu %9llu %9llu %9.2f %9.2f %9.2f %9.2f\n",
        std::string(request_kind_name(kind)).c_str(), static_cast<unsigned long long>(s.sent),
        static_cast<unsigned long long>(s.acknowledged),
        static_cast<unsigned long long>(s.errored()), static_cast<unsigned long long>(s.timed_out),
        ms(h.percentile(0.50)), ms(h.percentile(0.90)), ms(h.percentile(0.99)), ms(h.max()));
    out << line;
  }
  for (const RequestKind kind : kKinds) {
    const RequestStats& s = r.stats(kind);
    if (!s.errors.empty()) {
      out << "  " << request_kind_name(kind) << " errors: " << joined(s.errors) << "\n";
    }
  }
  out << "\n  result: " << (r.success() ? "ok" : "FAILED") << "\n";
}

std::string report_json(const FleetConfig& config, const FleetReport& r, int exit_code) {
  nlohmann::json requests = nlohmann::json::object();
  for (const RequestKind kind : kKinds) {
    const RequestStats& s = r.stats(kind);
    requests[std::string(request_kind_name(kind))] = {
        {"sent", s.sent},           {"acknowledged", s.acknowledged},
        {"errored", s.errored()},   {"errors", s.errors},
        {"timed_out", s.timed_out}, {"latency_ms", latency_json(s.latency)}};
  }
  const nlohmann::json document = {
      {"config",
       {{"gateway", config.gateway_uri},
        {"rate", config.rate},
        {"duration_s", static_cast<double>(config.duration.count()) / 1000.0},
        {"readings_per_post", config.readings_per_post},
        {"lifetime_s", config.lifetime_s},
        {"observe", config.observe},
        {"max_in_flight", config.max_in_flight},
        {"register_timeout_s", static_cast<double>(config.register_timeout.count()) / 1000.0},
        {"request_timeout_s", static_cast<double>(config.request_timeout.count()) / 1000.0},
        {"connect_rate", config.connect_rate}}},
      {"devices",
       {{"total", r.devices},
        {"registered", r.registered},
        {"failed", r.failed},
        {"failure_reasons", r.failure_reasons}}},
      {"registration",
       {{"seconds", r.registration_seconds},
        {"per_second", per_second(static_cast<double>(r.registered), r.registration_seconds)}}},
      {"telemetry",
       {{"seconds", r.telemetry_seconds},
        {"drain_seconds", r.drain_seconds},
        {"active_seconds", r.telemetry_active_seconds},
        {"requests_per_second", achieved_telemetry_rate(r)},
        {"sent_per_second", sent_telemetry_rate(r)},
        {"readings_sent", r.readings_sent}}},
      {"observe", {{"responses", r.observe_responses}, {"notifications", r.observe_notifications}}},
      {"requests", requests},
      {"late_responses", r.late_responses},
      {"icmp_errors", r.icmp_errors},
      {"interrupted", r.interrupted},
      {"hit_hard_deadline", r.hit_hard_deadline},
      {"success", r.success()},
      {"exit_code", exit_code}};
  return document.dump(2) + "\n";
}

}  // namespace spindle::fleet
