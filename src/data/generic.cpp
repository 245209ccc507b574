// The generic dataset shape (docs/datasets.md): items.jsonl ({"id", "title",
// "genres"?}), optional users.jsonl ({"id", "gender"?, "age"?,
// "occupation"?}) and interactions.csv with the header
// user,item,rating,timestamp. Ids may be JSON strings or integers.
#include <algorithm>
#include <filesystem>

#include "dare/jsonl.h"
#include "loader.h"

namespace dare::detail {

namespace {

// Parses one JSONL line as an object with an id; reports and returns false
// otherwise.
bool parse_object(const std::string & line, const line_reader & r, row_reporter & report, json & out,
                  std::string & id) {
    out = json::parse(line, nullptr, false);
    if (out.is_discarded() || !out.is_object()) {
        report.bad(r, "not a JSON object");
        return false;
    }
    if (!out.contains("id") || !(out["id"].is_string() || out["id"].is_number_integer())) {
        report.bad(r, "missing \"id\" (a string or an integer)");
        return false;
    }
    id = id_text(out["id"]);
    return true;
}

std::string optional_text(const json & j, const char * key) {
    if (!j.contains(key)) {
        return {};
    }
    return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

}  // namespace

void load_generic(const std::string & dir, dataset & d, const load_options & opts) {
    row_reporter report(d, opts);
    id_tables ids;
    std::string line;
    std::string id;
    json j;
    line_reader items(dir + "/items.jsonl");
    while (items.next(line)) {
        if (line.find_first_not_of(" \t") == std::string::npos || !parse_object(line, items, report, j, id)) {
            continue;
        }
        if (!j.contains("title") || !j["title"].is_string() || j["title"].get<std::string>().empty()) {
            report.bad(items, "missing \"title\" (a non-empty string)");
            continue;
        }
        std::vector<std::string> genres;
        if (j.contains("genres")) {
            if (!j["genres"].is_array()) {
                report.bad(items, "\"genres\" must be an array of strings");
                continue;
            }
            for (const auto & g : j["genres"]) {
                if (g.is_string()) {
                    genres.push_back(g.get<std::string>());
                }
            }
        }
        std::vector<std::string> tags;
        if (j.contains("tags")) {
            if (!j["tags"].is_array()) {
                report.bad(items, "\"tags\" must be an array of strings");
                continue;
            }
            for (const auto & t : j["tags"]) {
                if (t.is_string() && std::find(tags.begin(), tags.end(), t.get<std::string>()) == tags.end()) {
                    tags.push_back(t.get<std::string>());
                }
            }
        }
        if (!ids.add_item(d, {id, j["title"].get<std::string>(), std::move(genres), std::move(tags)})) {
            report.bad(items, "duplicate item id " + id);
        }
    }
    if (std::filesystem::exists(dir + "/users.jsonl")) {
        line_reader users(dir + "/users.jsonl");
        while (users.next(line)) {
            if (line.find_first_not_of(" \t") == std::string::npos || !parse_object(line, users, report, j, id)) {
                continue;
            }
            if (!ids.add_user(d, {id, optional_text(j, "gender"), optional_text(j, "age"),
                                  optional_text(j, "occupation")})) {
                report.bad(users, "duplicate user id " + id);
            }
        }
    }
    line_reader inter(dir + "/interactions.csv");
    if (!inter.next(line) || line.rfind("user,item,rating,timestamp", 0) != 0) {
        throw error_at(inter.path(), 1, "expected header user,item,rating,timestamp");
    }
    std::vector<std::string> f;
    while (inter.next(line)) {
        if (line.empty()) {
            continue;
        }
        if (!split_csv_line(line, f) || f.size() != 4) {
            report.bad(inter, "expected 4 fields user,item,rating,timestamp");
            continue;
        }
        add_interaction(d, ids, report, inter, f[0], f[1], f[2], f[3]);
    }
}

}  // namespace dare::detail
