// spindlectl: the Spindle operator CLI (docs/tools/spindlectl.md). Exit status: 0 success,
// 1 failure, 2 usage error.
#include <iostream>
#include <map>
#include <string>

#include "command_line_private.hpp"
#include "spindle/cli/guarded_main.hpp"

namespace {

using namespace spindle::ctl;

struct Command {
  int (*run)(const Args&);
  const char* summary;
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> table = {
      {"keygen", {cmd_keygen, "make a signing key pair (KID.key, KID.pub)"}},
      {"provision", {cmd_provision, "provision devices and write their provisioning files"}},
      {"pack", {cmd_pack, "check a model against a board, sign and encrypt it (.spkg)"}},
      {"push", {cmd_push, "upload a package's encrypted model to the gateway"}},
      {"deploy", {cmd_deploy, "sign a manifest per device and deploy them"}},
      {"status", {cmd_status, "devices, their deployments and attestation verdicts"}},
      {"attest", {cmd_attest, "ask devices to prove what they run"}},
      {"calibrate", {cmd_calibrate, "show or reset a device's per-machine calibration"}},
      {"capture", {cmd_capture, "ask a device for windows of features or raw samples"}},
      {"datasets", {cmd_datasets, "list captured data sets, export one (CSV, WAV)"}},
      {"tags", {cmd_tags, "show or set a device's tags, list the devices a selector matches"}},
      {"rollout", {cmd_rollout, "staged rollouts: start, status, pause, resume, abort"}},
  };
  return table;
}

std::string usage() {
  std::string text =
      "usage: spindlectl <command> [options]   (spindlectl <command> --help)\n\ncommands:\n";
  for (const auto& [name, command] : commands()) {
    text += "  " + name + std::string(12 - name.size(), ' ') + command.summary + "\n";
  }
  return text;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << usage();
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    std::cout << usage();
    return 0;
  }
  const auto command = commands().find(name);
  if (command == commands().end()) {
    throw spindle::cli::UsageError("unknown command '" + name + "'\n" + usage());
  }
  return command->second.run(Args(argv + 2, argv + argc));
}

}  // namespace

int main(int argc, char** argv) {
  // Errors name the command: "spindlectl pack: ...".
  const bool known = argc > 1 && commands().count(argv[1]) != 0;
  const std::string program = known ? std::string(kProgram) + " " + argv[1] : kProgram;
  return spindle::cli::guarded_main(program.c_str(), [&] { return run(argc, argv); });
}
