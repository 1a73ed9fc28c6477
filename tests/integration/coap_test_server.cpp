// A small CoAP test server on libcoap for the node's integration tests: it plays the
// gateway's /rd and /t/{id} resources, decodes what arrives with protocol/, de-duplicates
// telemetry by (device, seq, name) like the gateway will, and writes one JSON line per
// event to --log (appending, so a restarted server continues the same record).
//
//   coap_test_server --port 5683 --log events.jsonl [--psk-identity node-1 --psk-hex ...]
#include <coap3/coap.h>
#include <netinet/in.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "spindle/protocol/registration.hpp"
#include "spindle/protocol/senml.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;
std::FILE* g_log = nullptr;
std::set<std::tuple<std::string, std::uint64_t, std::string>> g_seen;
int g_registrations = 0;
std::string g_psk_identity;
std::vector<std::uint8_t> g_psk;

void log_line(const std::string& line) {
  std::fprintf(g_log, "%s\n", line.c_str());
  std::fflush(g_log);
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) >= 0x20) out.push_back(c);
  }
  return out + "\"";
}

std::string query_value(const coap_pdu_t* request, std::string_view key) {
  coap_string_t* query = coap_get_query(request);
  std::string result;
  if (query == nullptr) return result;
  std::string text(reinterpret_cast<const char*>(query->s), query->length);
  coap_delete_string(query);
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = text.find('&', start);
    const std::string part = text.substr(start, end == std::string::npos ? end : end - start);
    if (part.rfind(std::string(key) + "=", 0) == 0) result = part.substr(key.size() + 1);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return result;
}

std::span<const std::uint8_t> payload_of(const coap_pdu_t* request) {
  std::size_t length = 0;
  const std::uint8_t* data = nullptr;
  if (!coap_get_data(request, &length, &data)) return {};
  return {data, length};
}

void on_register(coap_resource_t*, coap_session_t*, const coap_pdu_t* request, const coap_string_t*,
                 coap_pdu_t* response) {
  const std::string ep = query_value(request, "ep");
  const auto reg = spindle::registration::decode(payload_of(request));
  if (ep.empty() || !reg.ok()) {
    log_line("{\"event\":\"bad_register\",\"reason\":" +
             json_string(reg.ok() ? "no ep" : reg.status().name()) + "}");
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_BAD_REQUEST);
    return;
  }
  const std::string location = std::to_string(++g_registrations);
  log_line("{\"event\":\"register\",\"ep\":" + json_string(ep) + ",\"lt\":" +
           json_string(query_value(request, "lt")) + ",\"board\":" + json_string(reg->board) +
           ",\"firmware\":" + json_string(reg->firmware_version) + "}");
  coap_add_option(response, COAP_OPTION_LOCATION_PATH, 2,
                  reinterpret_cast<const std::uint8_t*>("rd"));
  coap_add_option(response, COAP_OPTION_LOCATION_PATH, location.size(),
                  reinterpret_cast<const std::uint8_t*>(location.data()));
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_CREATED);
}

void on_post(coap_resource_t*, coap_session_t*, const coap_pdu_t* request, const coap_string_t*,
             coap_pdu_t* response) {
  coap_string_t* path_string = coap_get_uri_path(request);
  const std::string path =
      path_string == nullptr
          ? std::string()
          : std::string(reinterpret_cast<const char*>(path_string->s), path_string->length);
  coap_delete_string(path_string);
  if (path.rfind("rd/", 0) == 0) {
    log_line("{\"event\":\"refresh\",\"location\":" + json_string(path) + "}");
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_CHANGED);
    return;
  }
  if (path.rfind("t/", 0) != 0) {
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_NOT_FOUND);
    return;
  }
  const std::string device = path.substr(2);
  std::vector<spindle::senml::Record> records(512);
  const auto count = spindle::senml::decode(payload_of(request), records);
  if (!count.ok()) {
    log_line("{\"event\":\"bad_telemetry\",\"reason\":" + json_string(count.status().name()) + "}");
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_BAD_REQUEST);
    return;
  }
  int fresh = 0;
  int duplicates = 0;
  for (std::size_t i = 0; i < *count; ++i) {
    const auto& r = records[i];
    const std::string name(r.name);
    if (!g_seen.insert({device, r.seq, name}).second) {
      ++duplicates;
      continue;
    }
    ++fresh;
    std::string value = "null";
    if (r.kind == spindle::senml::ValueKind::kNumber) value = std::to_string(r.resolved_number());
    if (r.kind == spindle::senml::ValueKind::kBool) value = r.boolean ? "true" : "false";
    if (r.kind == spindle::senml::ValueKind::kData) value = std::to_string(r.data.size());
    char time[32];
    std::snprintf(time, sizeof time, "%.3f", r.resolved_time());
    log_line("{\"event\":\"reading\",\"device\":" + json_string(device) +
             ",\"seq\":" + std::to_string(r.seq) + ",\"name\":" + json_string(name) +
             ",\"value\":" + value + ",\"time\":" + time + "}");
  }
  log_line("{\"event\":\"batch\",\"device\":" + json_string(device) +
           ",\"records\":" + std::to_string(*count) + ",\"fresh\":" + std::to_string(fresh) +
           ",\"duplicates\":" + std::to_string(duplicates) + "}");
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_CHANGED);
}

const coap_bin_const_t* on_identity(coap_bin_const_t* identity, coap_session_t*, void*) {
  static coap_bin_const_t key;
  const std::string id(reinterpret_cast<const char*>(identity->s), identity->length);
  if (id != g_psk_identity) {
    log_line("{\"event\":\"psk_refused\",\"identity\":" + json_string(id) + "}");
    return nullptr;
  }
  key.s = g_psk.data();
  key.length = g_psk.size();
  return &key;
}

// Rebuilds the de-duplication set from an existing log, so a restarted server still
// recognises what it already accepted (as a gateway with durable storage would).
void load_seen(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"event\":\"reading\"") == std::string::npos) continue;
    auto field = [&](const std::string& key) {
      const auto at = line.find("\"" + key + "\":");
      if (at == std::string::npos) return std::string();
      auto start = at + key.size() + 3;
      if (line[start] == '"') {
        const auto end = line.find('"', start + 1);
        return line.substr(start + 1, end - start - 1);
      }
      const auto end = line.find_first_of(",}", start);
      return line.substr(start, end - start);
    };
    g_seen.insert({field("device"), std::stoull(field("seq")), field("name")});
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 5683;
  std::string log_path = "events.jsonl";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--port") port = static_cast<std::uint16_t>(std::stoi(argv[i + 1]));
    if (flag == "--log") log_path = argv[i + 1];
    if (flag == "--psk-identity") g_psk_identity = argv[i + 1];
    if (flag == "--psk-hex") {
      const std::string hex = argv[i + 1];
      for (std::size_t k = 0; k + 1 < hex.size(); k += 2) {
        g_psk.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(k, 2), nullptr, 16)));
      }
    }
  }
  load_seen(log_path);
  g_log = std::fopen(log_path.c_str(), "a");
  if (g_log == nullptr) return 1;
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });

  coap_startup();
  coap_set_log_level(LOG_WARNING);
  coap_context_t* context = coap_new_context(nullptr);
  coap_address_t address;
  coap_address_init(&address);
  address.addr.sin.sin_family = AF_INET;
  address.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.addr.sin.sin_port = htons(port);
  address.size = sizeof(sockaddr_in);
  coap_proto_t proto = COAP_PROTO_UDP;
  if (!g_psk.empty()) {
    coap_dtls_spsk_t setup{};
    setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
    setup.validate_id_call_back = on_identity;
    coap_context_set_psk2(context, &setup);
    proto = COAP_PROTO_DTLS;
  }
  if (coap_new_endpoint(context, &address, proto) == nullptr) {
    std::fprintf(stderr, "coap_test_server: cannot bind 127.0.0.1:%u\n", port);
    return 1;
  }
  coap_resource_t* rd = coap_resource_init(coap_make_str_const("rd"), 0);
  coap_register_request_handler(rd, COAP_REQUEST_POST, on_register);
  coap_add_resource(context, rd);
  coap_resource_t* unknown = coap_resource_unknown_init2(on_post, 0);
  coap_register_request_handler(unknown, COAP_REQUEST_POST, on_post);
  coap_add_resource(context, unknown);
  log_line("{\"event\":\"started\",\"port\":" + std::to_string(port) + "}");
  while (g_stop == 0)
    coap_io_process(context, 200);
  log_line("{\"event\":\"stopped\"}");
  coap_free_context(context);
  coap_cleanup();
  std::fclose(g_log);
  return 0;
}
