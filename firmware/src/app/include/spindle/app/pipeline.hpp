// One window's work on the node: features, then the active model's score.
#pragma once

#include <cstdint>
#include <span>

#include "spindle/protocol/board_profile.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/protocol/status.hpp"

namespace spindle::app {

struct WindowResult {
  bool scored = false;  // false while no model is active
  float score = 0.0F;
  bool anomaly = false;
  std::uint32_t latency_us = 0;        // features + inference
  std::uint32_t arena_high_water = 0;  // bytes of the model arena ever in use
  std::span<const float> features;     // this window's feature vector
};

class Pipeline {
 public:
  // Sets up feature extraction for the board's window and rate, and loads `model` (a
  // plaintext container; empty: no model) into the arena, of which only the board's
  // CONFIG_MODEL_ARENA_SIZE is used. Errors: kDoesNotFit (the window or the arena of the
  // board exceed what this build was sized for, or the model needs a larger arena), the
  // feature extractor's and the runtime's errors.
  Status init(const board::BoardProfile& board, std::span<const std::uint8_t> model,
              float threshold);

  // Errors: kInvalidValue (axis buffers of the wrong length), the runtime's.
  Status process(std::span<const float> x, std::span<const float> y, std::span<const float> z,
                 WindowResult* result);

 private:
  bool has_model_ = false;
  float threshold_ = 0.0F;
};

}  // namespace spindle::app
