// features/real_fft: the KISS FFT adapter against a direct DFT, planned in caller memory.
#include "spindle/features/real_fft.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <numbers>
#include <random>
#include <vector>

namespace spindle::features {
namespace {

std::vector<double> direct_power(const std::vector<float>& x) {
  const std::size_t n = x.size();
  std::vector<double> power(n / 2 + 1);
  for (std::size_t k = 0; k <= n / 2; ++k) {
    double re = 0.0;
    double im = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const double angle =
          2.0 * std::numbers::pi * static_cast<double>(i * k % n) / static_cast<double>(n);
      re += static_cast<double>(x[i]) * std::cos(angle);
      im -= static_cast<double>(x[i]) * std::sin(angle);
    }
    power[k] = re * re + im * im;
  }
  return power;
}

TEST(RealFft, PowerSpectrumMatchesADirectDft) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-1.0F, 1.0F);
  for (const std::size_t n : {64U, 256U, 1024U}) {
    std::vector<float> x(n);
    for (float& v : x)
      v = uniform(rng);
    std::vector<std::byte> memory(RealFft::memory_bytes(n));
    auto fft = RealFft::create(n, memory);
    ASSERT_TRUE(fft.ok()) << n;
    std::vector<float> power(n / 2 + 1);
    ASSERT_TRUE(fft.value().power_spectrum(x, power).ok());
    const auto expected = direct_power(x);
    for (std::size_t k = 0; k <= n / 2; ++k) {
      ASSERT_NEAR(power[k], expected[k], 1e-4 * static_cast<double>(n)) << n << " bin " << k;
    }
  }
}

TEST(RealFft, CosineAtABinPutsAllItsPowerThere) {
  constexpr std::size_t kN = 128;
  std::vector<float> x(kN);
  for (std::size_t i = 0; i < kN; ++i) {
    x[i] =
        static_cast<float>(std::cos(2.0 * std::numbers::pi * 10.0 * static_cast<double>(i) / kN));
  }
  std::vector<std::byte> memory(RealFft::memory_bytes(kN));
  auto fft = RealFft::create(kN, memory);
  ASSERT_TRUE(fft.ok());
  // In place: the power spectrum overwrites the front of the samples.
  ASSERT_TRUE(fft.value().power_spectrum(x, std::span(x).first(kN / 2 + 1)).ok());
  EXPECT_NEAR(x[10], (kN / 2.0F) * (kN / 2.0F), 0.5F);
  for (std::size_t k = 0; k <= kN / 2; ++k) {
    if (k != 10) {
      EXPECT_LT(x[k], 1e-6F) << k;
    }
  }
}

TEST(RealFft, MemoryBoundSufficesAtAnyAlignmentAndShortMemoryIsRefused) {
  for (std::size_t n = 2; n <= 8192; n *= 2) {
    std::vector<std::byte> memory(RealFft::memory_bytes(n) + 16);
    for (std::size_t offset = 0; offset < 16; offset += 5) {
      EXPECT_TRUE(
          RealFft::create(n, std::span(memory).subspan(offset, RealFft::memory_bytes(n))).ok())
          << n << " at offset " << offset;
    }
    EXPECT_EQ(RealFft::create(n, std::span(memory).first(n * 8)).status(), Error::kBufferTooSmall)
        << n;
  }
}

TEST(RealFft, OddOrTinySizesAreInvalidValueAndUnplannedIsInvalidState) {
  std::vector<std::byte> memory(4096);
  EXPECT_EQ(RealFft::create(0, memory).status(), Error::kInvalidValue);
  EXPECT_EQ(RealFft::create(63, memory).status(), Error::kInvalidValue);
  RealFft unplanned;
  std::vector<float> x(8), power(5);
  EXPECT_EQ(unplanned.power_spectrum(x, power), Error::kInvalidState);
  auto fft = RealFft::create(8, memory);
  ASSERT_TRUE(fft.ok());
  EXPECT_EQ(fft.value().power_spectrum(x, std::span(power).first(4)), Error::kSizeMismatch);
  EXPECT_EQ(fft.value().power_spectrum(std::span(x).first(6), power), Error::kSizeMismatch);
}

}  // namespace
}  // namespace spindle::features
