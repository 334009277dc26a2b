// The alert role's configuration keys (alert.*) and the options they make.
// The app adds alertConfigKeys() to its table and calls alertOptions().
//
// Threading: pure functions.
#pragma once

#include <string>
#include <vector>

#include "alert/alert_service.h"
#include "common/config_table.h"

namespace kobs::alert {

std::vector<config::KeySpec> alertConfigKeys();

// Everything but tables, clock, watermark and is_leader (the app's to wire).
AlertOptions alertOptions(const config::Values& values, const std::string& data_dir);

// alert.rules_file is set: the alert role has something to do.
bool alertsConfigured(const config::Values& values);

}  // namespace kobs::alert
