// The network thread: owns the CoAP client and runs the uplink tasks in the order and at
// the times UplinkSchedule gives; between passes it listens for manifest notifications,
// and a new reading (network_wake) ends the wait early.
#include "node_state_private.hpp"
#include "spindle/os/kernel.hpp"
#include "spindle/os/log.hpp"
#include "uplink_private.hpp"

namespace spindle::app::internal {
namespace {

struct Uplink {
  net::CoapClient& client;
  UplinkSchedule& schedule;
  RegistrationLocation location;
  DeliveryRetry delivery;
};

// Runs one task. Errors: as the task's; kPowerLoss and kIoError from delivery are fatal.
Result<UplinkOutcome> run_task(Uplink& uplink, UplinkTask task) {
  switch (task) {
    case UplinkTask::kRegister:
      return register_or_refresh(uplink.client, uplink.schedule.registered(), uplink.location);
    case UplinkTask::kDelivery: {
      SPINDLE_TRY(manifest_work(uplink.client, uplink.delivery));
      return UplinkOutcome::kDone;
    }
    case UplinkTask::kTelemetry:
      return send_batch(uplink.client);
    case UplinkTask::kCapture: {
      SPINDLE_TRY(upload_capture(uplink.client));
      return UplinkOutcome::kDone;
    }
  }
  return Error::kInvalidState;
}

// Listens for up to `wait_ms`: a notification, a new reading or a stop ends it early.
void listen(net::CoapClient& client, std::int64_t wait_ms) {
  const std::int64_t until = os::uptime_ms() + wait_ms;
  while (!g_stop && !client.has_notification()) {
    const std::int64_t left = until - os::uptime_ms();
    if (left <= 0) break;
    client.poll(static_cast<std::uint32_t>(left < 20 ? left : 20));
    if (g_state.network_wake.take(os::kNoWait).ok()) break;
  }
}

}  // namespace

void network_main(void*) {
  const NodeConfig& config = *g_state.config;
  net::CoapClient& client = g_state.client;
  net::ClientConfig client_config = config.client;
  client_config.cancel = &g_stop;  // a stop request ends a waiting request at once
  const Status started = client.start(client_config);
  if (!started.ok()) {
    fail(started, "starting the CoAP client");
    return;
  }
  g_state.block_source.attach(&client, kRequestTimeoutMs);
  UplinkScheduleConfig schedule_config;
  schedule_config.lifetime_s = config.lifetime_s;
  schedule_config.exit_when_sent = config.exit_when_sent;
  schedule_config.drain_timeout_ms = static_cast<std::int64_t>(config.drain_timeout_s) * 1000;
  UplinkSchedule schedule(schedule_config);
  Uplink uplink{client, schedule, {}, {}};
  while (!g_stop) {
    UplinkFacts facts;
    facts.now_ms = os::uptime_ms();
    facts.sampling_done = g_state.sampling_done;
    facts.all_sent = config.exit_when_sent && all_sent();
    const UplinkAction action = schedule.next(facts);
    if (action.kind == UplinkAction::Kind::kFinished) {
      SPINDLE_LOG_INF(kLog, "all readings delivered");
      g_stop = true;
      break;
    }
    if (action.kind == UplinkAction::Kind::kDrainTimeout) {
      fail(Error::kTimeout, "delivering the remaining readings");
      break;
    }
    if (action.kind == UplinkAction::Kind::kWait) {
      listen(client, action.wait_ms);
      continue;
    }
    const Result<UplinkOutcome> done = run_task(uplink, action.task);
    const bool store_failed =
        done.status() == Status(Error::kPowerLoss) || done.status() == Status(Error::kIoError);
    if (action.task == UplinkTask::kDelivery && store_failed) {
      fail(done.status(), "installing a model");
      break;
    }
    const UplinkOutcome outcome = done.ok() ? *done : UplinkOutcome::kFailed;
    const LinkChange change = schedule.on_result(action.task, outcome, os::uptime_ms());
    if (change == LinkChange::kUp) SPINDLE_LOG_INF(kLog, "gateway reachable again");
    if (change == LinkChange::kDown) {
      const Status why = done.ok() ? Status(Error::kRemoteError) : done.status();
      SPINDLE_LOG_WRN(kLog, "gateway unreachable (%s); readings stay in flash", why.name());
    }
  }
  g_state.block_source.attach(nullptr, 0);
  client.stop();
}

}  // namespace spindle::app::internal
