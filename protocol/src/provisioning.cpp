#include "spindle/protocol/provisioning.hpp"

#include <algorithm>

#include "spindle/protocol/hex.hpp"

namespace spindle::provisioning {
namespace {

enum class Key : std::uint8_t {
  kDeviceId,
  kGateway,
  kPsk,
  kModelKek,
  kAttestationKey,
  kTrustKey,
  kCount,
};
constexpr std::size_t kKeyCount = static_cast<std::size_t>(Key::kCount);
constexpr std::array<std::string_view, kKeyCount> kKeyNames = {
    "device_id", "gateway", "psk", "model_kek", "attestation_key", "trust_key",
};
constexpr std::array<Key, 3> kRequired = {Key::kDeviceId, Key::kPsk, Key::kAttestationKey};

std::string_view name_of(Key key) {
  return kKeyNames[static_cast<std::size_t>(key)];
}

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Exactly two hex digits per byte and nothing else (hex::decode would skip whitespace,
// which a record does not allow inside a value). Errors: kInvalidValue (not hex, or more
// bytes than `out` holds).
Result<std::size_t> decode_hex(std::string_view text, std::span<std::uint8_t> out) {
  if (text.size() % 2 != 0 || text.size() / 2 > out.size()) return Error::kInvalidValue;
  if (!std::all_of(text.begin(), text.end(), is_hex_digit)) return Error::kInvalidValue;
  return hex::decode(text, out);
}

// Hex of exactly out.size() bytes.
Status decode_hex_exact(std::string_view text, std::span<std::uint8_t> out) {
  SPINDLE_TRY_ASSIGN(const std::size_t used, decode_hex(text, out));
  return used == out.size() ? kOk : Status(Error::kInvalidValue);
}

// Appends to a fixed buffer, dropping what does not fit.
class Writer {
 public:
  explicit Writer(std::span<char> out) : out_(out) {}

  Writer& text(std::string_view s) {
    for (const char c : s) {
      if (used_ == out_.size()) {
        overflow_ = true;
        return *this;
      }
      out_[used_++] = c;
    }
    return *this;
  }
  Writer& number(std::size_t n) {
    std::array<char, 20> digits{};
    std::size_t count = 0;
    do {
      digits[count++] = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n != 0);
    while (count > 0)
      text({&digits[--count], 1});
    return *this;
  }
  Writer& hex(std::span<const std::uint8_t> bytes) {
    std::array<char, 2> pair{};
    for (const std::uint8_t b : bytes) {
      (void)hex::encode({&b, 1}, pair);
      text({pair.data(), pair.size()});
    }
    return *this;
  }
  std::size_t used() const { return used_; }
  bool overflow() const { return overflow_; }

 private:
  std::span<char> out_;
  std::size_t used_ = 0;
  bool overflow_ = false;
};

Status copy_text(std::string_view text, std::span<char> storage, std::size_t* size) {
  if (text.size() > storage.size()) return Error::kOversize;
  std::copy(text.begin(), text.end(), storage.begin());
  *size = text.size();
  return kOk;
}

}  // namespace

Status Provisioning::set_device_id(std::string_view id) {
  SPINDLE_TRY(check_id(id));
  return copy_text(id, device_id_, &device_id_size_);
}

Status Provisioning::set_gateway(std::string_view uri) {
  if (uri.size() > kMaxGatewayUriSize) return Error::kOversize;
  std::string_view rest;
  if (uri.starts_with("coaps://")) {
    rest = uri.substr(8);
  } else if (uri.starts_with("coap://")) {
    rest = uri.substr(7);
  } else {
    return Error::kInvalidValue;
  }
  if (rest.empty()) return Error::kInvalidValue;
  // Printable ASCII without spaces: it is one token on a line and in a log.
  if (!std::all_of(uri.begin(), uri.end(), [](char c) { return c > ' ' && c < 0x7f; })) {
    return Error::kInvalidValue;
  }
  return copy_text(uri, gateway_, &gateway_size_);
}

Status Provisioning::set_psk(std::span<const std::uint8_t> psk) {
  if (psk.empty()) return Error::kInvalidValue;
  if (psk.size() > kMaxPskSize) return Error::kOversize;
  std::copy(psk.begin(), psk.end(), psk_.begin());
  psk_size_ = psk.size();
  return kOk;
}

Status Provisioning::set_model_kek(std::span<const std::uint8_t> key) {
  if (key.size() != kModelKekSize) return Error::kInvalidValue;
  std::copy(key.begin(), key.end(), model_kek_.begin());
  has_model_kek_ = true;
  return kOk;
}

Status Provisioning::set_attestation_key(std::span<const std::uint8_t> key) {
  if (key.size() != kAttestationKeySize) return Error::kInvalidValue;
  std::copy(key.begin(), key.end(), attestation_key_.begin());
  has_attestation_key_ = true;
  return kOk;
}

Status Provisioning::add_trust_key(std::string_view kid, const crypto::EcPublicKey& public_key) {
  if (kid.size() > kMaxKidSize) return Error::kOversize;
  SPINDLE_TRY(check_id(kid));
  for (const TrustKey& key : trust_keys()) {
    if (key.kid() == kid) return Error::kDuplicateKey;
  }
  if (trust_key_count_ == kMaxTrustKeys) return Error::kFull;
  TrustKey& key = trust_keys_[trust_key_count_];
  SPINDLE_TRY(copy_text(kid, key.kid_storage, &key.kid_size));
  key.public_key = public_key;
  ++trust_key_count_;
  return kOk;
}

Result<Provisioning> parse(std::string_view text, ParseError* error) {
  Provisioning record;
  std::array<bool, kKeyCount> seen{};
  std::size_t line_number = 0;
  auto fail = [&](Error e, Reason reason, std::string_view key = {}) {
    if (error != nullptr) *error = {line_number, reason, key};
    return Status(e);
  };
  while (!text.empty()) {
    ++line_number;
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.size() > kMaxLineSize) return fail(Error::kOversize, Reason::kLineTooLong);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.remove_suffix(1);
    }
    if (line.empty() || line.front() == '#') continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) return fail(Error::kMalformed, Reason::kNotKeyValue);
    const std::string_view name = line.substr(0, eq);
    const std::string_view value = line.substr(eq + 1);
    const auto found = std::find(kKeyNames.begin(), kKeyNames.end(), name);
    if (found == kKeyNames.end()) {
      return fail(Error::kUnknownCriticalField, Reason::kUnknownKey, name);
    }
    const auto key = static_cast<Key>(found - kKeyNames.begin());
    bool& key_seen = seen[static_cast<std::size_t>(key)];
    if (key_seen && key != Key::kTrustKey) {
      return fail(Error::kDuplicateKey, Reason::kDuplicateKey, name);
    }
    key_seen = true;
    switch (key) {
      case Key::kDeviceId:
        if (!record.set_device_id(value).ok()) {
          return fail(Error::kInvalidValue, Reason::kBadDeviceId);
        }
        break;
      case Key::kGateway:
        if (!record.set_gateway(value).ok()) return fail(Error::kInvalidValue, Reason::kBadGateway);
        break;
      case Key::kPsk: {
        std::array<std::uint8_t, kMaxPskSize> psk{};
        const auto size = decode_hex(value, psk);
        if (!size.ok() || !record.set_psk({psk.data(), *size}).ok()) {
          return fail(Error::kInvalidValue, Reason::kBadPsk);
        }
        break;
      }
      case Key::kModelKek: {
        std::array<std::uint8_t, kModelKekSize> kek{};
        if (!decode_hex_exact(value, kek).ok() || !record.set_model_kek(kek).ok()) {
          return fail(Error::kInvalidValue, Reason::kBadModelKek);
        }
        break;
      }
      case Key::kAttestationKey: {
        std::array<std::uint8_t, kAttestationKeySize> attestation{};
        if (!decode_hex_exact(value, attestation).ok() ||
            !record.set_attestation_key(attestation).ok()) {
          return fail(Error::kInvalidValue, Reason::kBadAttestationKey);
        }
        break;
      }
      case Key::kTrustKey: {
        const std::size_t colon = value.find(':');
        crypto::EcPublicKey public_key{};
        if (colon == std::string_view::npos ||
            !decode_hex_exact(value.substr(colon + 1), public_key).ok()) {
          return fail(Error::kInvalidValue, Reason::kBadTrustKey);
        }
        const std::string_view kid = value.substr(0, colon);
        const Status added = record.add_trust_key(kid, public_key);
        if (added == Error::kDuplicateKey) {
          return fail(Error::kDuplicateKey, Reason::kDuplicateTrustKid, kid);
        }
        if (added == Error::kFull) return fail(Error::kOversize, Reason::kTooManyTrustKeys);
        if (!added.ok()) return fail(Error::kInvalidValue, Reason::kBadTrustKey);
        break;
      }
      case Key::kCount:
        break;
    }
  }
  line_number = 0;
  for (const Key key : kRequired) {
    if (!seen[static_cast<std::size_t>(key)]) {
      return fail(Error::kMissingField, Reason::kMissingKey, name_of(key));
    }
  }
  return record;
}

Result<std::size_t> format(const Provisioning& record, std::span<char> out) {
  if (record.device_id().empty() || record.psk().empty() || record.attestation_key().empty()) {
    return Error::kMissingField;
  }
  Writer w(out);
  w.text(kHeaderComment).text("\n");
  w.text(name_of(Key::kDeviceId)).text("=").text(record.device_id()).text("\n");
  if (!record.gateway().empty()) {
    w.text(name_of(Key::kGateway)).text("=").text(record.gateway()).text("\n");
  }
  w.text(name_of(Key::kPsk)).text("=").hex(record.psk()).text("\n");
  if (!record.model_kek().empty()) {
    w.text(name_of(Key::kModelKek)).text("=").hex(record.model_kek()).text("\n");
  }
  w.text(name_of(Key::kAttestationKey)).text("=").hex(record.attestation_key()).text("\n");
  for (const TrustKey& key : record.trust_keys()) {
    w.text(name_of(Key::kTrustKey)).text("=").text(key.kid()).text(":").hex(key.public_key);
    w.text("\n");
  }
  if (w.overflow()) return Error::kBufferTooSmall;
  return w.used();
}

std::size_t describe(const ParseError& error, std::span<char> out) {
  Writer w(out);
  if (error.line != 0) w.text("line ").number(error.line).text(": ");
  switch (error.reason) {
    case Reason::kNone:
      w.text("no error");
      break;
    case Reason::kLineTooLong:
      w.text("longer than ").number(kMaxLineSize).text(" characters");
      break;
    case Reason::kNotKeyValue:
      w.text("not key=value");
      break;
    case Reason::kUnknownKey:
      w.text("unknown key '").text(error.key).text("'");
      break;
    case Reason::kDuplicateKey:
      w.text("duplicate key '").text(error.key).text("'");
      break;
    case Reason::kBadDeviceId:
      w.text("device_id is not 1-").number(kMaxIdSize).text(" of A-Z a-z 0-9 . _ -");
      break;
    case Reason::kBadGateway:
      w.text("gateway is not a coap:// or coaps:// URI of at most ")
          .number(kMaxGatewayUriSize)
          .text(" characters");
      break;
    case Reason::kBadPsk:
      w.text("psk is not 1-").number(kMaxPskSize).text(" hex bytes");
      break;
    case Reason::kBadModelKek:
      w.text("model_kek is not ").number(kModelKekSize).text(" hex bytes");
      break;
    case Reason::kBadAttestationKey:
      w.text("attestation_key is not ").number(kAttestationKeySize).text(" hex bytes");
      break;
    case Reason::kBadTrustKey:
      w.text("trust_key is not <kid>:<")
          .number(2 * crypto::kEcPublicKeySize)
          .text(" hex digits> with a kid of 1-")
          .number(kMaxKidSize)
          .text(" of A-Z a-z 0-9 . _ -");
      break;
    case Reason::kDuplicateTrustKid:
      w.text("a second trust_key with kid '").text(error.key).text("'");
      break;
    case Reason::kTooManyTrustKeys:
      w.text("more than ").number(kMaxTrustKeys).text(" trust_key lines");
      break;
    case Reason::kMissingKey:
      w.text("no ").text(error.key).text(" line (it is required)");
      break;
  }
  return w.used();
}

}  // namespace spindle::provisioning
