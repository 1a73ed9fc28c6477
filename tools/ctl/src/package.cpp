#include "spindle/ctl/package.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "spindle/protocol/cbor_reader.hpp"
#include "spindle/protocol/cbor_writer.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::ctl {
namespace {

// manifest.cddl's device id key; the signed info puts the board name under its own key.
constexpr std::int64_t kManifestDeviceId = 3;
constexpr std::int64_t kInfoBoard = 12;
// The manifest's calibration (its key 12) sits under key 13 in the signed info, since the
// board name had key 12 first.
constexpr std::int64_t kManifestCalibration = 12;
constexpr std::int64_t kInfoCalibration = 13;
constexpr std::size_t kMaxInfoEntries = 16;
// The description is encoded and decoded by the manifest codec, bound to this stand-in
// device id, which is swapped for the board name on the way out: one set of field rules
// for packages and manifests. It never appears in a file.
constexpr std::string_view kDescriptionDevice = "package-description";

using Bytes = std::span<const std::uint8_t>;

Bytes as_span(const ByteVector& bytes) {
  return {bytes.data(), bytes.size()};
}

// One entry of a CBOR map with integer keys: its key and its encoded value.
struct MapEntry {
  std::int64_t key = 0;
  std::span<const std::uint8_t> value;
};

// The entries of an integer-keyed map, duplicates refused.
Result<std::vector<MapEntry>> read_entries(std::span<const std::uint8_t> map) {
  cbor::Reader reader(map);
  cbor::KeySet seen;
  std::vector<MapEntry> entries;
  SPINDLE_TRY(cbor::read_int_map(reader, kMaxInfoEntries, seen, [&](std::int64_t key) -> Status {
    const std::size_t start = reader.offset();
    SPINDLE_TRY(reader.skip());
    entries.push_back({key, map.subspan(start, reader.offset() - start)});
    return kOk;
  }));
  SPINDLE_TRY(reader.finish());
  return entries;
}

// The map of `entries` less the one keyed `drop`, plus `key` => `text` at the end.
Result<ByteVector> rewrite_map(const std::vector<MapEntry>& entries, std::int64_t drop,
                               std::int64_t key, std::string_view text) {
  std::size_t bound = 2 * 9 + 9 + text.size();
  for (const MapEntry& entry : entries)
    bound += 9 + entry.value.size();
  ByteVector out(bound);
  cbor::Writer writer(out);
  const auto kept = static_cast<std::size_t>(std::count_if(
      entries.begin(), entries.end(), [&](const MapEntry& e) { return e.key != drop; }));
  writer.map(kept + 1);
  for (const MapEntry& entry : entries) {
    if (entry.key != drop) writer.integer(entry.key).raw(entry.value);
  }
  writer.integer(key).text(text);
  SPINDLE_TRY_ASSIGN(const auto encoded, writer.finish());
  out.resize(encoded.size());
  return out;
}

// The outer array; `signed_info` and `ciphertext` are views into `file`.
struct FileParts {
  std::span<const std::uint8_t> signed_info;
  std::span<const std::uint8_t> ciphertext;
};

Result<FileParts> read_file_parts(std::span<const std::uint8_t> file) {
  cbor::Reader reader(file);
  const auto count = reader.read_array(4);
  const auto magic = count.ok() && *count == 4 ? reader.read_text(kPackageMagic.size())
                                               : Result<std::string_view>(Error::kBadMagic);
  if (!magic.ok() || *magic != kPackageMagic) return Error::kBadMagic;
  SPINDLE_TRY_ASSIGN(const std::uint64_t version, reader.read_uint());
  if (version != kPackageFormatVersion) return Error::kUnsupportedVersion;
  FileParts parts;
  SPINDLE_TRY_ASSIGN(parts.signed_info, reader.read_bytes(kMaxSignedInfoBytes));
  SPINDLE_TRY_ASSIGN(parts.ciphertext, reader.read_bytes(file.size()));
  SPINDLE_TRY(reader.finish());
  return parts;
}

// The rest of read_package() once the signed info is decoded (and maybe verified).
Result<Package> finish_package(const FileParts& parts, const cose::Sign1& sign1) {
  Package package;
  SPINDLE_TRY_ASSIGN(package.info, decode_info(sign1.payload));
  package.kid.assign(sign1.kid.begin(), sign1.kid.end());
  package.signed_info.assign(parts.signed_info.begin(), parts.signed_info.end());
  package.ciphertext.assign(parts.ciphertext.begin(), parts.ciphertext.end());
  if (package.ciphertext.size() != package.info.payload_size) return Error::kSizeMismatch;
  if (!crypto::equal_constant_time(crypto::Sha256::of(as_span(package.ciphertext)),
                                   package.info.payload_digest)) {
    return Error::kDigestMismatch;
  }
  return package;
}

}  // namespace

Result<PackageKek> derive_package_kek(const crypto::EcPrivateKey& signing_key,
                                      std::string_view kid) {
  if (kid.empty()) return Error::kInvalidValue;
  PackageKek kek{};
  SPINDLE_TRY(crypto::hkdf_sha256(crypto::as_bytes(kPackageKekSalt), signing_key,
                                  crypto::as_bytes(kid), kek));
  return kek;
}

Result<manifest::Manifest> manifest_view(const PackageInfo& info, std::string_view device_id,
                                         std::span<const std::uint8_t> wrapped_key) {
  if (info.baseline.size() > kMaxFeatures || info.self_tests.size() > kMaxSelfTests) {
    return Error::kOversize;
  }
  manifest::Manifest m;
  m.model_id = info.model_id;
  m.version = info.version;
  m.device_id = device_id;
  m.payload_digest = info.payload_digest;
  m.payload_size = info.payload_size;
  m.encryption.nonce = info.nonce;
  m.encryption.wrapped_key = wrapped_key;
  m.requirements = info.requirements;
  m.input = info.input;
  m.threshold = info.threshold;
  std::copy(info.baseline.begin(), info.baseline.end(), m.baseline.begin());
  m.baseline_count = info.baseline.size();
  for (std::size_t i = 0; i < info.self_tests.size(); ++i) {
    m.self_tests[i] = {as_span(info.self_tests[i].input),
                       as_span(info.self_tests[i].expected_output)};
  }
  m.self_test_count = info.self_tests.size();
  m.has_calibration = info.has_calibration;
  m.calibration = info.calibration;
  return m;
}

Result<ByteVector> encode_info(const PackageInfo& info) {
  if (info.board.empty() || info.board.size() > kMaxBoardNameSize) return Error::kInvalidValue;
  SPINDLE_TRY_ASSIGN(const manifest::Manifest m,
                     manifest_view(info, kDescriptionDevice, info.wrapped_key));
  ByteVector buffer(kMaxSignedInfoBytes);
  SPINDLE_TRY_ASSIGN(const auto encoded, manifest::encode(m, buffer));
  SPINDLE_TRY_ASSIGN(auto entries, read_entries(encoded));
  for (MapEntry& entry : entries) {
    if (entry.key == kManifestCalibration) entry.key = kInfoCalibration;
  }
  return rewrite_map(entries, kManifestDeviceId, kInfoBoard, info.board);
}

Result<PackageInfo> decode_info(std::span<const std::uint8_t> payload) {
  SPINDLE_TRY_ASSIGN(const auto entries, read_entries(payload));
  const auto board = std::find_if(entries.begin(), entries.end(),
                                  [](const MapEntry& e) { return e.key == kInfoBoard; });
  if (board == entries.end()) return Error::kMissingField;
  cbor::Reader board_reader(board->value);
  SPINDLE_TRY_ASSIGN(const std::string_view board_name, board_reader.read_text(kMaxBoardNameSize));
  if (board_name.empty()) return Error::kInvalidValue;
  // Back to the manifest's keys: the board goes, the calibration returns to key 12. A device
  // id in the description would become a duplicate key here: refused.
  std::vector<MapEntry> manifest_entries;
  for (MapEntry entry : entries) {
    if (entry.key == kInfoBoard) continue;
    if (entry.key == kManifestCalibration) return Error::kUnknownCriticalField;
    if (entry.key == kInfoCalibration) entry.key = kManifestCalibration;
    manifest_entries.push_back(entry);
  }
  constexpr std::int64_t kNothing = std::numeric_limits<std::int64_t>::min();
  SPINDLE_TRY_ASSIGN(
      const ByteVector as_manifest,
      rewrite_map(manifest_entries, kNothing, kManifestDeviceId, kDescriptionDevice));
  SPINDLE_TRY_ASSIGN(const manifest::Manifest m, manifest::decode(as_manifest));

  PackageInfo info;
  info.model_id = m.model_id;
  info.version = m.version;
  info.board = board_name;
  std::copy(m.payload_digest.begin(), m.payload_digest.end(), info.payload_digest.begin());
  info.payload_size = m.payload_size;
  std::copy(m.encryption.nonce.begin(), m.encryption.nonce.end(), info.nonce.begin());
  std::copy(m.encryption.wrapped_key.begin(), m.encryption.wrapped_key.end(),
            info.wrapped_key.begin());
  info.requirements = m.requirements;
  info.input = m.input;
  info.threshold = m.threshold;
  info.baseline.assign(m.baseline.begin(),
                       m.baseline.begin() + static_cast<std::ptrdiff_t>(m.baseline_count));
  for (std::size_t i = 0; i < m.self_test_count; ++i) {
    const manifest::SelfTest& test = m.self_tests[i];
    info.self_tests.push_back({{test.input.begin(), test.input.end()},
                               {test.expected_output.begin(), test.expected_output.end()}});
  }
  info.has_calibration = m.has_calibration;
  info.calibration = m.calibration;
  return info;
}

Result<ByteVector> seal_package(PackageInfo info, std::span<const std::uint8_t> container,
                                const crypto::ContentKey& content_key,
                                const crypto::CcmNonce& nonce,
                                const crypto::EcPrivateKey& signing_key, std::string_view kid) {
  if (container.empty() || kid.empty()) return Error::kInvalidValue;
  if (container.size() > std::numeric_limits<std::uint32_t>::max() - crypto::kCcmTagSize) {
    return Error::kOversize;
  }
  ByteVector ciphertext(container.size() + crypto::kCcmTagSize);
  SPINDLE_TRY(crypto::seal_model_payload(content_key, nonce, info.model_id, container, ciphertext));
  info.payload_digest = crypto::Sha256::of(as_span(ciphertext));
  info.payload_size = static_cast<std::uint32_t>(ciphertext.size());
  info.nonce = nonce;
  SPINDLE_TRY_ASSIGN(const PackageKek kek, derive_package_kek(signing_key, kid));
  SPINDLE_TRY(crypto::aes_key_wrap(kek, content_key, info.wrapped_key));

  SPINDLE_TRY_ASSIGN(const ByteVector payload, encode_info(info));
  ByteVector signed_buffer(payload.size() + cose::kSign1Overhead);
  SPINDLE_TRY_ASSIGN(const auto signed_info,
                     cose::sign(signing_key, crypto::as_bytes(kid), as_span(payload), signed_buffer,
                                crypto::as_bytes(kPackageSignatureContext)));

  ByteVector file(signed_info.size() + ciphertext.size() + kPackageMagic.size() + 32);
  cbor::Writer writer(file);
  writer.array(4)
      .text(kPackageMagic)
      .uint(kPackageFormatVersion)
      .bytes(signed_info)
      .bytes(as_span(ciphertext));
  SPINDLE_TRY_ASSIGN(const auto encoded, writer.finish());
  file.resize(encoded.size());
  return file;
}

Result<Package> read_package(std::span<const std::uint8_t> file) {
  SPINDLE_TRY_ASSIGN(const FileParts parts, read_file_parts(file));
  SPINDLE_TRY_ASSIGN(const cose::Sign1 sign1, cose::decode(parts.signed_info));
  return finish_package(parts, sign1);
}

Result<Package> verify_package(std::span<const std::uint8_t> file,
                               std::span<const cose::TrustedKey> trusted_keys) {
  SPINDLE_TRY_ASSIGN(const FileParts parts, read_file_parts(file));
  SPINDLE_TRY_ASSIGN(
      const cose::Sign1 sign1,
      cose::verify(parts.signed_info, trusted_keys, crypto::as_bytes(kPackageSignatureContext)));
  return finish_package(parts, sign1);
}

Result<crypto::ContentKey> unwrap_content_key(const PackageInfo& info,
                                              const crypto::EcPrivateKey& signing_key,
                                              std::string_view kid) {
  SPINDLE_TRY_ASSIGN(const PackageKek kek, derive_package_kek(signing_key, kid));
  crypto::ContentKey content_key{};
  SPINDLE_TRY(crypto::aes_key_unwrap(kek, info.wrapped_key, content_key));
  return content_key;
}

Result<ByteVector> decrypt_payload(const Package& package, const crypto::ContentKey& content_key) {
  if (package.ciphertext.size() < crypto::kCcmTagSize) return Error::kTruncated;
  ByteVector container(package.ciphertext.size() - crypto::kCcmTagSize);
  SPINDLE_TRY(crypto::open_model_payload(content_key, package.info.nonce, package.info.model_id,
                                         as_span(package.ciphertext), container));
  return container;
}

Result<ByteVector> device_manifest(const PackageInfo& info, const crypto::ContentKey& content_key,
                                   std::string_view device_id,
                                   std::span<const std::uint8_t> device_kek,
                                   const crypto::EcPrivateKey& signing_key, std::string_view kid,
                                   manifest::ManifestRole role,
                                   const manifest::Activation& activation) {
  WrappedKey wrapped{};
  SPINDLE_TRY(crypto::aes_key_wrap(device_kek, content_key, wrapped));
  SPINDLE_TRY_ASSIGN(manifest::Manifest m, manifest_view(info, device_id, wrapped));
  m.role = role;
  m.activation = activation;
  ByteVector payload(kMaxSignedInfoBytes);
  SPINDLE_TRY_ASSIGN(const auto encoded, manifest::encode(m, payload));
  ByteVector out(encoded.size() + cose::kSign1Overhead);
  SPINDLE_TRY_ASSIGN(const auto signed_manifest,
                     cose::sign(signing_key, crypto::as_bytes(kid), encoded, out));
  out.resize(signed_manifest.size());
  // A node keeps the signed manifest in its slot header and refuses larger ones.
  if (out.size() > kMaxSignedManifestSize) return Error::kOversize;
  return out;
}

namespace {

// "HH:MM" (two digits each) as minutes after midnight.
Result<std::uint16_t> parse_clock(std::string_view text) {
  const auto digit = [&](std::size_t i) { return static_cast<unsigned>(text[i] - '0'); };
  if (text.size() != 5 || text[2] != ':') return Error::kInvalidValue;
  for (const std::size_t i : {0U, 1U, 3U, 4U}) {
    if (text[i] < '0' || text[i] > '9') return Error::kInvalidValue;
  }
  const unsigned hours = digit(0) * 10 + digit(1);
  const unsigned minutes = digit(3) * 10 + digit(4);
  if (hours > 23 || minutes > 59) return Error::kInvalidValue;
  return static_cast<std::uint16_t>(hours * 60 + minutes);
}

}  // namespace

Result<manifest::Activation> parse_activation(std::string_view text) {
  manifest::Activation a;
  if (text == "now") return a;
  if (text == "idle") {
    a.mode = manifest::ActivationMode::kIdle;
    return a;
  }
  constexpr std::string_view kWindow = "window:";
  if (text.substr(0, kWindow.size()) != kWindow) return Error::kInvalidValue;
  text.remove_prefix(kWindow.size());
  if (text.size() != 11 || text[5] != '-') return Error::kInvalidValue;
  SPINDLE_TRY_ASSIGN(const std::uint16_t start, parse_clock(text.substr(0, 5)));
  SPINDLE_TRY_ASSIGN(const std::uint16_t end, parse_clock(text.substr(6)));
  // A window that ends where it starts would be empty or the whole day: neither is a
  // maintenance window (the whole day is "now").
  if (start == end) return Error::kInvalidValue;
  a.mode = manifest::ActivationMode::kWindow;
  a.window_start_min = start;
  a.window_length_min = static_cast<std::uint16_t>((end + manifest::kMinutesPerDay - start) %
                                                   manifest::kMinutesPerDay);
  SPINDLE_TRY(manifest::check_activation(a));
  return a;
}

Result<ByteVector> signed_decision(const decision::Decision& d,
                                   const crypto::EcPrivateKey& signing_key, std::string_view kid) {
  ByteVector out(decision::kMaxSignedSize);
  SPINDLE_TRY_ASSIGN(const auto signed_bytes,
                     decision::sign(d, signing_key, crypto::as_bytes(kid), out));
  out.resize(signed_bytes.size());
  return out;
}

}  // namespace spindle::ctl
