// Whether the machine the node is mounted on stands still, for gated activation (manifest
// key 14 "idle", docs/firmware/activation.md): a new model may take over while the machine
// is idle, so that the switch never falls on a running process.
//
// The work queue feeds it every window's feature vector; the machine is idle once the
// overall vibration RMS (over all axes, about each window's mean) has stayed below the
// board's CONFIG_IDLE_RMS_MG for CONFIG_IDLE_WINDOWS windows in a row, and stops being idle
// at the first window above it. The network thread reads the verdict (an atomic flag).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace spindle::app {

class IdleDetector {
 public:
  // `level_mg`: the overall RMS below which a window is quiet; `windows`: quiet windows in a
  // row before the machine counts as idle (at least 1).
  void configure(std::uint32_t level_mg, std::uint32_t windows);

  // One window's features (features::FeatureExtractor layout, `axes` axes of it). A vector
  // too short for `axes` counts as not quiet.
  void observe(std::span<const float> features, std::size_t axes);

  // Any thread.
  bool idle() const { return idle_.load(std::memory_order_relaxed); }

  // The overall RMS of one window in g: the root of the sum of the axes' mean squares.
  static float overall_rms(std::span<const float> features, std::size_t axes);

 private:
  float level_g_ = 0.0F;
  std::uint32_t windows_ = 1;
  std::uint32_t quiet_ = 0;  // quiet windows in a row so far (work queue only)
  std::atomic<bool> idle_{false};
};

}  // namespace spindle::app
