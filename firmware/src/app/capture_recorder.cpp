#include "spindle/app/capture_recorder.hpp"

#include <algorithm>
#include <array>

namespace spindle::app {

Status CaptureRecorder::init(std::span<std::uint8_t> buffer, const board::BoardProfile& board,
                             std::uint16_t feature_count) {
  os::LockGuard guard(mutex_);
  capture::ChunkHeader header;
  header.board = board.name();
  header.sample_rate_hz = board.sensor_rate_hz;
  header.window_length = board.window_length;
  header.axes = board.sensor_axes;
  header.feature_count = feature_count;
  // Validated as a one-window chunk of each kind, so that a later seal cannot fail.
  header.capture_id = 1;
  header.total_windows = 1;
  header.window_count = 1;
  if (buffer.size() < capture::kMaxChunkPrefix) return Error::kDoesNotFit;
  const std::size_t data_capacity = buffer.size() - capture::kMaxChunkPrefix;
  for (const capture::Kind kind : {capture::Kind::kFeatures, capture::Kind::kRaw}) {
    header.kind = kind;
    if (capture::window_bytes(header) > data_capacity) return Error::kDoesNotFit;
    SPINDLE_TRY(capture::validate(header, capture::window_bytes(header)));
  }
  buffer_ = buffer;
  header_ = header;
  state_ = State::kIdle;
  return kOk;
}

bool CaptureRecorder::request(const capture::Request& request) {
  os::LockGuard guard(mutex_);
  if (buffer_.empty() || !capture::validate(request).ok()) return false;
  if (request.capture_id == finished_id_ || request.capture_id < highest_id_) return false;
  if (state_ != State::kIdle && request.capture_id == header_.capture_id) return false;
  highest_id_ = request.capture_id;
  header_.capture_id = request.capture_id;
  header_.kind = request.kind;
  header_.total_windows = request.windows;
  header_.sequence = 0;
  collected_ = 0;
  in_chunk_ = 0;
  state_ = State::kCollecting;
  progress_ = CaptureProgress{request.capture_id, request.kind, request.windows, 0, 0, true};
  return true;
}

std::size_t CaptureRecorder::windows_per_chunk_locked() const {
  const std::size_t fit =
      (buffer_.size() - capture::kMaxChunkPrefix) / capture::window_bytes(header_);
  return std::min<std::size_t>(fit, header_.total_windows - collected_);
}

void CaptureRecorder::offer(std::span<const float> features, std::span<const float> x,
                            std::span<const float> y, std::span<const float> z) {
  os::LockGuard guard(mutex_);
  if (state_ == State::kReady) ++progress_.windows_skipped;
  if (state_ != State::kCollecting) return;
  const std::span<std::uint8_t> data = buffer_.subspan(capture::kMaxChunkPrefix);
  std::size_t index = std::size_t{in_chunk_} * capture::window_values(header_);
  if (header_.kind == capture::Kind::kFeatures) {
    if (features.size() < header_.feature_count) return;
    for (std::size_t i = 0; i < header_.feature_count; ++i)
      capture::put_value(data, index++, features[i]);
  } else {
    const std::array<std::span<const float>, 3> axes = {x, y, z};
    const std::size_t length = header_.window_length;
    for (std::size_t a = 0; a < header_.axes; ++a) {
      if (axes[a].size() < length) return;
    }
    for (std::size_t i = 0; i < length; ++i) {
      for (std::size_t a = 0; a < header_.axes; ++a)
        capture::put_value(data, index++, axes[a][i]);
    }
  }
  ++in_chunk_;
  if (in_chunk_ >= windows_per_chunk_locked()) seal_locked();
}

void CaptureRecorder::seal_locked() {
  header_.first_window = collected_;
  header_.window_count = in_chunk_;
  std::array<std::uint8_t, capture::kMaxChunkPrefix> prefix{};
  // Cannot fail: init validated the board fields and the sizes stay within the buffer.
  const auto size = capture::encode_prefix(
      header_, std::size_t{in_chunk_} * capture::window_bytes(header_), prefix);
  if (!size.ok()) {
    state_ = State::kIdle;
    progress_.active = false;
    return;
  }
  prefix_offset_ = capture::kMaxChunkPrefix - *size;
  std::copy_n(prefix.begin(), *size, buffer_.begin() + static_cast<std::ptrdiff_t>(prefix_offset_));
  state_ = State::kReady;
}

std::span<const std::uint8_t> CaptureRecorder::ready_chunk() {
  os::LockGuard guard(mutex_);
  if (state_ != State::kReady) return {};
  const std::size_t data = std::size_t{in_chunk_} * capture::window_bytes(header_);
  return buffer_.subspan(prefix_offset_, capture::kMaxChunkPrefix - prefix_offset_ + data);
}

void CaptureRecorder::acknowledged() {
  os::LockGuard guard(mutex_);
  if (state_ != State::kReady) return;
  collected_ += in_chunk_;
  progress_.windows_acknowledged = collected_;
  in_chunk_ = 0;
  ++header_.sequence;
  if (collected_ >= header_.total_windows) {
    finished_id_ = header_.capture_id;
    state_ = State::kIdle;
    progress_.active = false;
    return;
  }
  state_ = State::kCollecting;
}

void CaptureRecorder::abandon() {
  os::LockGuard guard(mutex_);
  if (state_ == State::kIdle) return;
  finished_id_ = header_.capture_id;
  state_ = State::kIdle;
  progress_.active = false;
}

CaptureProgress CaptureRecorder::progress() {
  os::LockGuard guard(mutex_);
  return progress_;
}

}  // namespace spindle::app
