// A fixed-size latency histogram with percentiles (HdrHistogram-style log-linear buckets):
// exact below 64 us, then 32 sub-buckets per power of two, so a reported percentile is
// within 1/32 (about 3 %) above the true value. Memory does not grow with the sample count,
// so a fleet run of any length records every request.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace spindle::fleet {

class LatencyHistogram {
 public:
  void record(std::uint64_t micros) {
    ++counts_[bucket_of(micros)];
    ++count_;
    max_ = std::max(max_, micros);
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }

  // The smallest recorded bucket's upper bound that at least `fraction` (0..1] of the
  // samples do not exceed, capped at the maximum; 0 when nothing was recorded.
  std::uint64_t percentile(double fraction) const {
    if (count_ == 0) return 0;
    const double wanted = std::clamp(fraction, 0.0, 1.0) * static_cast<double>(count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > 0 && static_cast<double>(seen) >= wanted) return std::min(upper_bound(i), max_);
    }
    return max_;
  }

 private:
  static constexpr unsigned kSubBits = 5;                     // 32 sub-buckets per octave
  static constexpr std::uint64_t kExact = 2U << kSubBits;     // 0..63 us are exact
  static constexpr std::size_t kOctaves = 64 - kSubBits - 1;  // shifts 1..58
  static constexpr std::size_t kBuckets = kExact + kOctaves * (1U << kSubBits);

  static std::size_t bucket_of(std::uint64_t v) {
    if (v < kExact) return static_cast<std::size_t>(v);
    const unsigned shift = static_cast<unsigned>(std::bit_width(v)) - 1 - kSubBits;  // >= 1
    const std::uint64_t mantissa = v >> shift;                                       // 32..63
    return static_cast<std::size_t>(kExact + (shift - 1) * (1U << kSubBits) +
                                    (mantissa - (1U << kSubBits)));
  }

  static std::uint64_t upper_bound(std::size_t bucket) {
    if (bucket < kExact) return bucket;
    const std::size_t rest = bucket - kExact;
    const std::uint64_t shift = rest / (1U << kSubBits) + 1;
    const std::uint64_t mantissa = rest % (1U << kSubBits) + (1U << kSubBits);
    return ((mantissa + 1) << shift) - 1;
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace spindle::fleet
