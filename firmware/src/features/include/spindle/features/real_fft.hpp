// The power spectrum of a real signal: the one adapter to KISS FFT (kiss_fftr), planned in
// caller-provided memory so that nothing is allocated after start-up.
#pragma once

#include <cstddef>
#include <span>

#include "spindle/status.hpp"

struct kiss_fftr_state;

namespace spindle::features {

class RealFft {
 public:
  // Bytes create() needs for an n-point transform, alignment slack included: an upper bound
  // of what KISS FFT asks for (its plan plus twiddles, about 10 n + 300) and the complex
  // output of n/2 + 1 bins.
  static constexpr std::size_t memory_bytes(std::size_t n) {
    return 512 + 10 * n + 8 * (n / 2 + 1) + 32;
  }

  RealFft() = default;  // not planned: power_spectrum() returns kInvalidState

  // Plans an n-point transform (n even, >= 2) in `memory`, which must outlive the RealFft.
  // Errors: kInvalidValue (n odd or < 2), kBufferTooSmall (memory smaller than KISS FFT
  // needs for n; memory_bytes(n) is always enough).
  static Result<RealFft> create(std::size_t n, std::span<std::byte> memory);

  // power[k] = |X[k]|^2 for k = 0 .. n/2, X the unnormalised DFT of `samples`
  // (X[k] = sum x[i] e^(-2 pi j i k / n)). `power` may be the same memory as `samples`.
  // Errors: kInvalidState (not planned), kSizeMismatch (samples.size() != n or
  // power.size() != n/2 + 1).
  Status power_spectrum(std::span<const float> samples, std::span<float> power);

  std::size_t size() const { return n_; }

 private:
  kiss_fftr_state* plan_ = nullptr;
  void* bins_ = nullptr;  // n/2 + 1 kiss_fft_cpx
  std::size_t n_ = 0;
};

}  // namespace spindle::features
