// spindle-bare-coap-server: the ceiling for gateway benchmarks. A bare libcoap server that
// answers the requests a Spindle node (or spindle-fleet) sends, with no work behind them:
//
//   POST /rd?ep={id}&lt=..   -> 2.01, Location-Path rd/<n>  (and /d/{id}/manifest appears)
//   POST /rd/<n>             -> 2.04
//   POST /t/{id}             -> 2.04
//   GET  /d/{id}/manifest    -> 2.05, empty, observable, once {id} registered; else 4.04
//
// Nothing is decoded or stored, so the gap between this and spindle-gateway under the same
// fleet is the gateway's own cost. With --dtls every PSK identity is accepted with the
// --psk-hex key, or with the key derived for it from --master-secret-file.
//
// Prints "listening on <address>:<port>" once ready; SIGINT/SIGTERM end it cleanly.
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <netinet/in.h>

#include <boost/program_options.hpp>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include "spindle/cli/command_line.hpp"
#include "spindle/cli/guarded_main.hpp"

#include "spindle/fleet/psk_source.hpp"

namespace po = boost::program_options;
using spindle::fleet::ByteVector;
using spindle::fleet::PskSource;

namespace {

volatile std::sig_atomic_t g_stop = 0;

struct Counters {
  std::uint64_t registrations = 0;
  std::uint64_t refreshes = 0;
  std::uint64_t telemetry = 0;
  std::uint64_t manifests = 0;
  std::uint64_t refused_identities = 0;
};

Counters g_counters;
PskSource g_keys;

std::string_view text_of(const coap_string_t* s) {
  return s == nullptr ? std::string_view()
                      : std::string_view(reinterpret_cast<const char*>(s->s), s->length);
}

// The value of `key` in a query "a=1&b=2" (empty when absent).
std::string_view query_value(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    if (part.size() > key.size() && part.substr(0, key.size()) == key && part[key.size()] == '=') {
      return part.substr(key.size() + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

void on_manifest(coap_resource_t*, coap_session_t*, const coap_pdu_t*, const coap_string_t*,
                 coap_pdu_t* response) {
  ++g_counters.manifests;
  // No deployment: an empty representation; libcoap adds Observe for an observer.
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
}

// Makes /d/{id}/manifest observable once {id} registers, as the gateway's would be.
void add_manifest_resource(coap_context_t* context, std::string_view id) {
  const std::string path = "d/" + std::string(id) + "/manifest";
  coap_str_const_t* uri =
      coap_new_str_const(reinterpret_cast<const std::uint8_t*>(path.data()), path.size());
  if (uri == nullptr) return;
  if (coap_get_resource_from_uri_path(context, uri) != nullptr) {
    coap_delete_str_const(uri);
    return;
  }
  coap_resource_t* resource = coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI);
  if (resource == nullptr) {
    coap_delete_str_const(uri);
    return;
  }
  coap_register_request_handler(resource, COAP_REQUEST_GET, on_manifest);
  coap_resource_set_get_observable(resource, 1);
  coap_add_resource(context, resource);
}

void on_register(coap_resource_t*, coap_session_t* session, const coap_pdu_t*,
                 const coap_string_t* query, coap_pdu_t* response) {
  const std::string_view ep = query_value(text_of(query), "ep");
  if (ep.empty()) {
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_BAD_REQUEST);
    return;
  }
  add_manifest_resource(coap_session_get_context(session), ep);
  const std::string location = std::to_string(++g_counters.registrations);
  coap_add_option(response, COAP_OPTION_LOCATION_PATH, 2,
                  reinterpret_cast<const std::uint8_t*>("rd"));
  coap_add_option(response, COAP_OPTION_LOCATION_PATH, location.size(),
                  reinterpret_cast<const std::uint8_t*>(location.data()));
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_CREATED);
}

// Every path without its own resource: registration updates, telemetry, unknown GETs.
void on_unknown(coap_resource_t*, coap_session_t*, const coap_pdu_t* request, const coap_string_t*,
                coap_pdu_t* response) {
  coap_pdu_code_t code = COAP_RESPONSE_CODE_NOT_FOUND;
  if (coap_pdu_get_code(request) == COAP_REQUEST_CODE_POST) {
    coap_string_t* path = coap_get_uri_path(request);
    const std::string_view p = text_of(path);
    if (p.substr(0, 3) == "rd/") {
      ++g_counters.refreshes;
      code = COAP_RESPONSE_CODE_CHANGED;
    } else if (p.substr(0, 2) == "t/" && p.size() > 2) {
      ++g_counters.telemetry;
      code = COAP_RESPONSE_CODE_CHANGED;
    }
    coap_delete_string(path);
  }
  coap_pdu_set_code(response, code);
}

const coap_bin_const_t* on_identity(coap_bin_const_t* identity, coap_session_t*, void*) {
  // libcoap copies the key before the next call.
  static ByteVector key;
  static coap_bin_const_t answer;
  const std::string_view id(reinterpret_cast<const char*>(identity->s), identity->length);
  if (!g_keys.key_for(id, key).ok()) {
    ++g_counters.refused_identities;
    return nullptr;
  }
  answer.s = key.data();
  answer.length = key.size();
  return &answer;
}

int run(int argc, char** argv) {
  int port = 5683;
  std::string address = "127.0.0.1";
  bool dtls = false;
  std::string psk_hex;
  std::string master_secret_file;
  po::options_description options(
      "usage: spindle-bare-coap-server [--port 5683] [--dtls (--psk-hex HEX | "
      "--master-secret-file FILE)]\n\n"
      "A bare libcoap server answering Spindle's /rd, /rd/<n>, /t/{id} and\n"
      "/d/{id}/manifest with no work: the baseline gateway benchmarks compare against.\n\n"
      "options");
  options.add_options()("help,h", "print this help")("port", po::value(&port)->default_value(port),
                                                     "UDP port")(
      "address", po::value(&address)->default_value(address), "IPv4 address to bind")(
      "dtls", po::bool_switch(&dtls), "DTLS-PSK instead of plain UDP")(
      "psk-hex", po::value(&psk_hex), "with --dtls: the key of every identity")(
      "master-secret-file", po::value(&master_secret_file),
      "with --dtls: site master secret (hex file); keys are derived per identity");
  po::variables_map vm;
  if (!spindle::cli::parse_or_help(po::command_line_parser(argc, argv), options, &vm)) return 0;
  if (port < 1 || port > 65535) throw std::invalid_argument("--port must be in 1..65535");
  const bool has_key = !psk_hex.empty() || !master_secret_file.empty();
  if (!dtls && has_key) throw std::invalid_argument("--psk-hex / --master-secret-file need --dtls");
  if (dtls) {
    if (!has_key) throw std::invalid_argument("--dtls needs --psk-hex or --master-secret-file");
    if (!psk_hex.empty() && !master_secret_file.empty()) {
      throw std::invalid_argument("--psk-hex and --master-secret-file exclude each other");
    }
    g_keys = master_secret_file.empty()
                 ? PskSource::shared(spindle::fleet::parse_hex(psk_hex, "--psk-hex"))
                 : PskSource::derived(spindle::fleet::read_hex_file(master_secret_file));
  }
  coap_address_t bind_address;
  coap_address_init(&bind_address);
  bind_address.addr.sin.sin_family = AF_INET;
  bind_address.addr.sin.sin_port = htons(static_cast<std::uint16_t>(port));
  bind_address.size = sizeof(sockaddr_in);
  if (inet_pton(AF_INET, address.c_str(), &bind_address.addr.sin.sin_addr) != 1) {
    throw std::invalid_argument("--address '" + address + "' is not an IPv4 address");
  }

  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });
  coap_startup();
  coap_set_log_level(LOG_ERR);
  coap_context_t* context = coap_new_context(nullptr);
  if (context == nullptr) throw std::runtime_error("cannot create a libcoap context");
  if (dtls) {
    if (!coap_dtls_is_supported()) throw std::runtime_error("libcoap was built without DTLS");
    coap_dtls_spsk_t setup{};
    setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
    setup.validate_id_call_back = on_identity;
    coap_context_set_psk2(context, &setup);
  }
  if (coap_new_endpoint(context, &bind_address, dtls ? COAP_PROTO_DTLS : COAP_PROTO_UDP) ==
      nullptr) {
    coap_free_context(context);
    throw std::runtime_error("cannot bind " + address + ":" + std::to_string(port));
  }
  coap_resource_t* rd = coap_resource_init(coap_make_str_const("rd"), 0);
  coap_register_request_handler(rd, COAP_REQUEST_POST, on_register);
  coap_add_resource(context, rd);
  coap_resource_t* unknown = coap_resource_unknown_init2(on_unknown, 0);
  coap_register_request_handler(unknown, COAP_REQUEST_POST, on_unknown);
  coap_register_request_handler(unknown, COAP_REQUEST_GET, on_unknown);
  coap_add_resource(context, unknown);

  std::printf("spindle-bare-coap-server: listening on %s:%d (%s)\n", address.c_str(), port,
              dtls ? "DTLS-PSK" : "UDP");
  std::fflush(stdout);
  while (g_stop == 0)
    coap_io_process(context, 200);
  coap_free_context(context);
  coap_cleanup();
  std::printf(
      "spindle-bare-coap-server: %llu registrations, %llu refreshes, %llu telemetry posts, "
      "%llu manifest GETs, %llu refused identities\n",
      static_cast<unsigned long long>(g_counters.registrations),
      static_cast<unsigned long long>(g_counters.refreshes),
      static_cast<unsigned long long>(g_counters.telemetry),
      static_cast<unsigned long long>(g_counters.manifests),
      static_cast<unsigned long long>(g_counters.refused_identities));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return spindle::cli::guarded_main("spindle-bare-coap-server", [&] { return run(argc, argv); });
}
