// One window's work on the node: features, then the active model's score.
#pragma once

#include <cstdint>
#include <span>

#include "spindle/modelstore/installer.hpp"
#include "spindle/os/sync.hpp"
#include "spindle/protocol/board_profile.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

namespace spindle::app {

struct WindowResult {
  bool scored = false;  // false while no model is active
  float score = 0.0F;
  bool anomaly = false;
  std::uint32_t latency_us = 0;        // features + inference
  std::uint32_t arena_high_water = 0;  // bytes of the model arena ever in use
  std::span<const float> features;     // this window's feature vector
};

// Thread-safe between one scoring thread (process) and one installing thread (suspend,
// load): a model is swapped between two windows, never during one.
class Pipeline final : public modelstore::ModelRunner {
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

  // ModelRunner: the installer's side.
  void suspend() override;
  // Loads a decrypted container into the board's arena and runs the manifest's self-test
  // vectors through the int8 path, comparing the int8 output bit for bit. Errors:
  // kSelfTestFailed, kSizeMismatch (input size is not the node's feature count), the
  // runtime's; on error no model is loaded.
  Status load(std::span<const std::uint8_t> container, const manifest::Manifest& manifest) override;

 private:
  Status load_locked(std::span<const std::uint8_t> model, float threshold);

  os::Mutex mutex_;
  const board::BoardProfile* board_ = nullptr;
  bool has_model_ = false;
  float threshold_ = 0.0F;
};

}  // namespace spindle::app
