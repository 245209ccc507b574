// run.json reading and comparison (contract in include/dare/run_settings.h).
#include "dare/run_settings.h"

#include <filesystem>

#include "dare/error.h"
#include "dare/jsonl.h"

namespace fs = std::filesystem;

namespace dare {

json read_run_settings(const std::string & path) {
    if (!fs::exists(path)) {
        return json::object();
    }
    json s = json::parse(read_file_bytes(path), nullptr, false);
    if (s.is_discarded() || !s.is_object()) {
        throw error(path + ": unreadable run settings; remove the file or the run folder");
    }
    return s;
}

void check_run_settings(const std::string & path, const json & now, bool force) {
    if (!fs::exists(path)) {
        return;
    }
    const json before = read_run_settings(path);
    std::string diff;
    for (const auto & [k, v] : now.items()) {
        if (!before.contains(k) || before[k] != v) {
            diff += "\n  " + k + ": was " + (before.contains(k) ? before[k].dump() : "unset") + ", now " + v.dump();
        }
    }
    if (!diff.empty() && !force) {
        throw error(path + ": this run folder was made with other settings:" + diff +
                    "\nuse the same settings to resume, another --out for a new run, or --force to continue "
                    "with the new settings");
    }
}

std::string run_model_file(const std::string & rundir) {
    const json s = read_run_settings((fs::path(rundir) / "run.json").string());
    const auto it = s.find("model");
    return it != s.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace dare
