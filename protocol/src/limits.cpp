#include "spindle/protocol/limits.hpp"

namespace spindle {

Status check_id(std::string_view id) {
  if (id.empty()) return Error::kInvalidValue;
  if (id.size() > kMaxIdSize) return Error::kOversize;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return Error::kInvalidValue;
  }
  return kOk;
}

}  // namespace spindle
