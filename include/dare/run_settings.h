// run.json: the settings a dare run folder was made with (model, dataset,
// decoding options, ...). A rerun compares its own settings with them before
// it resumes, and dare encode reads the model from them. Model-free.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace dare {

// The settings object in PATH, or an empty object if there is no such file.
// Throws dare::error "PATH: unreadable run settings; ..." if the file is not
// a JSON object.
nlohmann::json read_run_settings(const std::string & path);

// One line "\n  KEY: was OLD, now NEW" per key whose value differs between
// `before` and `now`, a key present in only one of them included ("unset" on
// the other side), keys that `skip` accepts left out; "" when none differ.
std::string settings_diff(const nlohmann::json & before, const nlohmann::json & now,
                          const std::function<bool(const std::string &)> & skip = {});

// Refuses (dare::error naming every changed setting, old and new) to resume a
// run whose PATH holds other settings than `now`, unless `force`.
void check_run_settings(const std::string & path, const nlohmann::json & now, bool force);

// The model file a run used ("" when its run.json does not say).
std::string run_model_file(const std::string & rundir);

}  // namespace dare
