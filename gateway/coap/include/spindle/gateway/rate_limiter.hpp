// Per-peer token buckets: each peer (a DTLS identity, or an address for plain UDP) may
// send `rate` requests per second with bursts up to `burst`. The table of peers is bounded,
// so a flood of new source addresses cannot grow it without limit.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_map>

namespace spindle::gateway {

class RateLimiter {
 public:
  RateLimiter(double rate_per_s, double burst, std::size_t max_peers)
      : rate_per_ms_(rate_per_s / 1000.0), burst_(burst), max_peers_(max_peers) {}

  // Takes one token from `peer`'s bucket. False when it is empty, or when the peer is new
  // and the table is full even after forgetting idle peers.
  bool allow(std::string_view peer, std::int64_t now_ms) {
    auto it = buckets_.find(std::string(peer));
    if (it == buckets_.end()) {
      if (buckets_.size() >= max_peers_) prune(now_ms);
      if (buckets_.size() >= max_peers_) return false;
      it = buckets_.emplace(std::string(peer), Bucket{burst_, now_ms}).first;
    }
    Bucket& bucket = it->second;
    refill(bucket, now_ms);
    if (bucket.tokens < 1.0) return false;
    bucket.tokens -= 1.0;
    return true;
  }

  // Forgets peers whose bucket has refilled: they are indistinguishable from new ones.
  void prune(std::int64_t now_ms) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      refill(it->second, now_ms);
      it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
    }
  }

  std::size_t peers() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    std::int64_t last_ms;
  };

  void refill(Bucket& bucket, std::int64_t now_ms) const {
    if (now_ms > bucket.last_ms) {
      bucket.tokens = std::min(
          burst_, bucket.tokens + static_cast<double>(now_ms - bucket.last_ms) * rate_per_ms_);
      bucket.last_ms = now_ms;
    }
  }

  double rate_per_ms_;
  double burst_;
  std::size_t max_peers_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace spindle::gateway
