#include "spindle/fleet/provisioning.hpp"

#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <unordered_map>

namespace spindle::fleet {
namespace {

constexpr std::size_t kBodyExcerpt = 200;

std::string excerpt(const std::string& body) {
  return body.size() <= kBodyExcerpt ? body : body.substr(0, kBodyExcerpt) + "...";
}

}  // namespace

std::vector<ByteVector> provision_devices(const std::string& api_url, const std::string& token,
                                          const std::vector<std::string>& ids) {
  httplib::Client client(api_url);
  if (!client.is_valid())
    throw std::runtime_error("--provision-api '" + api_url + "' is not usable");
  client.set_bearer_token_auth(token.c_str());
  client.set_connection_timeout(5);
  client.set_read_timeout(60);  // a chunk derives and stores 500 devices' keys

  std::unordered_map<std::string, ByteVector> psks;
  for (std::size_t first = 0; first < ids.size(); first += kProvisionChunk) {
    const std::size_t last = std::min(ids.size(), first + kProvisionChunk);
    nlohmann::json request = {{"devices", nlohmann::json::array()}};
    for (std::size_t i = first; i < last; ++i)
      request["devices"].push_back({{"id", ids[i]}});
    const auto result = client.Post("/api/v1/devices", request.dump(), "application/json");
    if (!result) {
      throw std::runtime_error("provisioning at " + api_url + ": " +
                               httplib::to_string(result.error()));
    }
    if (result->status != 200 && result->status != 201) {
      throw std::runtime_error("provisioning at " + api_url + " answered " +
                               std::to_string(result->status) + ": " + excerpt(result->body));
    }
    const nlohmann::json answer = nlohmann::json::parse(result->body, nullptr, false);
    if (answer.is_discarded() || !answer.contains("devices") || !answer["devices"].is_array()) {
      throw std::runtime_error("provisioning at " + api_url +
                               ": the answer has no \"devices\" array: " + excerpt(result->body));
    }
    for (const auto& device : answer["devices"]) {
      if (!device.is_object() || !device.contains("id") || !device["id"].is_string() ||
          !device.contains("psk") || !device["psk"].is_string()) {
        continue;  // checked below: every id we asked for must come back with a psk
      }
      const std::string id = device["id"].get<std::string>();
      try {
        psks[id] = parse_hex(device["psk"].get<std::string>(), "the psk of " + id);
      } catch (const std::invalid_argument& e) {
        throw std::runtime_error("provisioning at " + api_url + ": " + e.what());
      }
    }
  }
  std::vector<ByteVector> out;
  out.reserve(ids.size());
  for (const std::string& id : ids) {
    const auto it = psks.find(id);
    if (it == psks.end()) {
      throw std::runtime_error("provisioning at " + api_url + ": no psk for device " + id);
    }
    out.push_back(std::move(it->second));
  }
  return out;
}

}  // namespace spindle::fleet
