// The timing rule every Spindle benchmark follows: calibrate a batch of calls that takes
// about a tenth of a run, then take the median over `runs` runs of at least `min_ms` each,
// as nanoseconds per call. Medians, because these machines are shared and noisy.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <vector>

namespace spindle::bench {

struct TimerSettings {
  int runs = 7;
  double min_ms = 200.0;
};

inline double median_ns(const TimerSettings& settings, const std::function<void()>& op) {
  using Clock = std::chrono::steady_clock;
  std::size_t batch = 1;
  for (;;) {
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < batch; ++i)
      op();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (ms > settings.min_ms / 10 || batch > (std::size_t{1} << 28)) break;
    batch *= 2;
  }
  std::vector<double> samples;
  for (int run = 0; run < settings.runs; ++run) {
    std::size_t calls = 0;
    const auto t0 = Clock::now();
    double ms = 0;
    do {
      for (std::size_t i = 0; i < batch; ++i)
        op();
      calls += batch;
      ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    } while (ms < settings.min_ms);
    samples.push_back(ms * 1e6 / static_cast<double>(calls));
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

}  // namespace spindle::bench
