// Spreads events evenly at a rate (registrations started, telemetry posts sent). After a
// stall (a busy event loop, no idle device) it catches up with a burst of at most
// kMaxLag worth of events rather than the whole backlog, so the offered load stays near
// the rate instead of spiking.
#pragma once

#include <algorithm>
#include <chrono>

namespace spindle::fleet {

class Pacer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kMaxLag = std::chrono::milliseconds(20);

  // rate > 0 events per second.
  explicit Pacer(double rate)
      : interval_(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(1.0 / rate))) {}

  void start(Clock::time_point now) { next_ = now; }
  bool ready(Clock::time_point now) const { return now >= next_; }
  void take(Clock::time_point now) { next_ = std::max(next_, now - kMaxLag) + interval_; }
  Clock::time_point next() const { return next_; }

 private:
  Clock::duration interval_;
  Clock::time_point next_{};
};

}  // namespace spindle::fleet
