// run.json reading and comparison (contract in include/dare/run_settings.h).
#include "dare/run_settings.h"

#include <filesystem>
#include <set>

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

std::string settings_diff(const json & before, const json & now,
                          const std::function<bool(const std::string &)> & skip) {
    std::set<std::string> keys;
    for (const auto & [k, v] : before.items()) {
        keys.insert(k);
    }
    for (const auto & [k, v] : now.items()) {
        keys.insert(k);
    }
    std::string diff;
    for (const auto & k : keys) {
        const bool in_before = before.contains(k), in_now = now.contains(k);
        if ((skip && skip(k)) || (in_before && in_now && before[k] == now[k])) {
            continue;
        }
        diff += "\n  " + k + ": was " + (in_before ? before[k].dump() : "unset") + ", now " +
                (in_now ? now[k].dump() : "unset");
    }
    return diff;
}

void check_run_settings(const std::string & path, const json & now, bool force) {
    if (!fs::exists(path)) {
        return;
    }
    const std::string diff = settings_diff(read_run_settings(path), now);
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
