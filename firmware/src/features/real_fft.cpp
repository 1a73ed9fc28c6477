#include "spindle/features/real_fft.hpp"

#include <kissfft/kiss_fftr.h>

#include <cstdint>
#include <memory>

namespace spindle::features {
namespace {

constexpr std::size_t kAlignment = 16;

// Advances `memory` to the next kAlignment boundary; empty if it is too short for that.
std::span<std::byte> align(std::span<std::byte> memory) {
  void* ptr = memory.data();
  std::size_t space = memory.size();
  if (std::align(kAlignment, 1, ptr, space) == nullptr) return {};
  return memory.subspan(memory.size() - space);
}

}  // namespace

Result<RealFft> RealFft::create(std::size_t n, std::span<std::byte> memory) {
  if (n < 2 || n % 2 != 0 || n > static_cast<std::size_t>(INT32_MAX)) {
    return Error::kInvalidValue;
  }
  const int points = static_cast<int>(n);
  std::size_t plan_bytes = 0;
  // With mem == NULL and a length, KISS only reports the size it needs (no allocation).
  (void)kiss_fftr_alloc(points, 0, nullptr, &plan_bytes);
  plan_bytes = (plan_bytes + kAlignment - 1) / kAlignment * kAlignment;
  const std::size_t bins_bytes = sizeof(kiss_fft_cpx) * (n / 2 + 1);

  memory = align(memory);
  if (memory.size() < plan_bytes + bins_bytes) return Error::kBufferTooSmall;
  std::size_t length = plan_bytes;
  kiss_fftr_cfg plan = kiss_fftr_alloc(points, 0, memory.data(), &length);
  if (plan == nullptr) return Error::kBufferTooSmall;

  RealFft fft;
  fft.plan_ = plan;
  fft.bins_ = memory.subspan(plan_bytes).data();
  fft.n_ = n;
  return fft;
}

Status RealFft::power_spectrum(std::span<const float> samples, std::span<float> power) {
  if (plan_ == nullptr) return Error::kInvalidState;
  if (samples.size() != n_ || power.size() != n_ / 2 + 1) return Error::kSizeMismatch;
  auto* bins = static_cast<kiss_fft_cpx*>(bins_);
  kiss_fftr(plan_, samples.data(), bins);
  // The transform has read all of `samples` before this loop writes `power`.
  for (std::size_t k = 0; k <= n_ / 2; ++k)
    power[k] = bins[k].r * bins[k].r + bins[k].i * bins[k].i;
  return kOk;
}

}  // namespace spindle::features
