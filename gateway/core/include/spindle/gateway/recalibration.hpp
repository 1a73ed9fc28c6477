// An operator's reset of a device's calibration (docs/gateway/api.md "Calibration reset"):
// outstanding from POST /api/v1/devices/{id}/calibration/reset until the device's calibration
// report shows that the node has moved on. Until then every 2.xx answer to the device's
// registration, refresh and telemetry carries gateway_request key 3, recalibrate_after.
#pragma once

#include "spindle/gateway/store.hpp"

namespace spindle::gateway {

// Whether `report` answers the reset: a generation above the one reset, or a calibration of
// another model or version (whose generations start over at 1, so waiting for a higher one
// would make the node restart its calibration again and again).
inline bool recalibration_answered(const StoredRecalibration& reset,
                                   const StoredCalibration& report) {
  return report.generation > reset.after_generation || report.model_id != reset.model_id ||
         report.version != reset.version;
}

}  // namespace spindle::gateway
