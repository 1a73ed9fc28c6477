// A stored data capture rendered for export (docs/gateway/api.md "GET
// /api/v1/captures/{id}/data"): CSV of feature vectors, and for raw samples the two forms
// the node's replay source reads (firmware/src/sensor/replay_source.hpp), a t,x,y,z CSV and
// an IEEE float 32-bit WAV. Private to gateway/api.
#pragma once

#include <span>
#include <string>

#include "spindle/gateway/store.hpp"

namespace spindle::gateway::api {

// "window,device,label,x_rms,...": one row per stored window, values as float32 printed
// exactly (%.9g).
std::string features_csv(const StoredCapture& capture, std::span<const StoredCaptureChunk> chunks);

// '#' lines naming the capture, then "t,x,y,z" (fewer axes: fewer columns) with one row
// per sample frame, windows in order, t = frame / sample rate in seconds.
std::string samples_csv(const StoredCapture& capture, std::span<const StoredCaptureChunk> chunks);

// RIFF/WAVE, format 3 (IEEE float), 32 bits, one channel per axis, the capture's sample
// rate: the chunks' data bytes as they are (little-endian, frames interleaved).
std::string samples_wav(const StoredCapture& capture, std::span<const StoredCaptureChunk> chunks);

}  // namespace spindle::gateway::api
