// Where the node's acceleration samples come from: the accelerometer driver on a board, the
// rotary-machine simulator or a recording on native_sim. The sensor thread only sees this.
#pragma once

#include <cstdint>
#include <span>

#include "spindle/status.hpp"

namespace spindle::sensor {

class SampleSource {
 public:
  virtual ~SampleSource() = default;

  // Fills x, y and z (equal lengths) with the next x.size() samples of each axis, in g, at
  // sample_rate_hz(). Axes a source does not have read as 0. On an error nothing is
  // consumed, so a read can be retried with correct buffers.
  // Errors: kSizeMismatch when the spans differ in length; kUnavailable when a finite
  // source has fewer than x.size() samples left; others as the source documents.
  virtual Status read(std::span<float> x, std::span<float> y, std::span<float> z) = 0;

  virtual std::uint32_t sample_rate_hz() const = 0;

 protected:
  SampleSource() = default;
  SampleSource(const SampleSource&) = default;
  SampleSource& operator=(const SampleSource&) = default;
};

}  // namespace spindle::sensor
