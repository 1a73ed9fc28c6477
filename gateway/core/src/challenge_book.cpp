#include "spindle/gateway/challenge_book.hpp"

namespace spindle::gateway {

void ChallengeBook::issue(std::string_view device_id, const Challenge& challenge) {
  challenges_.insert_or_assign(std::string(device_id), challenge);
}

const Challenge* ChallengeBook::outstanding(std::string_view device_id, std::int64_t now_ms) {
  const auto it = challenges_.find(std::string(device_id));
  if (it == challenges_.end()) return nullptr;
  if (it->second.expired(now_ms)) {
    challenges_.erase(it);
    return nullptr;
  }
  return &it->second;
}

std::optional<Challenge> ChallengeBook::consume(std::string_view device_id, Verdict verdict) {
  if (verdict != Verdict::kMatch && verdict != Verdict::kMismatch) return std::nullopt;
  const auto it = challenges_.find(std::string(device_id));
  if (it == challenges_.end()) return std::nullopt;
  const Challenge consumed = it->second;
  challenges_.erase(it);
  return consumed;
}

void ChallengeBook::give_back(std::string_view device_id,
                              const std::optional<Challenge>& consumed) {
  if (!consumed) return;
  challenges_.emplace(std::string(device_id), *consumed);  // keeps a newer one
}

void ChallengeBook::drop_expired(std::int64_t now_ms) {
  std::erase_if(challenges_, [now_ms](const auto& entry) { return entry.second.expired(now_ms); });
}

}  // namespace spindle::gateway
