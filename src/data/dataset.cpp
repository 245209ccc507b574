// Dataset detection and the helpers every loader shares (see loader.h).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "loader.h"

namespace dare {

namespace detail {

line_reader::line_reader(std::string path) : path_(std::move(path)), in_(path_, std::ios::binary) {
    if (!in_) {
        throw error(path_ + ": cannot open (" + std::strerror(errno) + ")");
    }
}

bool line_reader::next(std::string & line) {
    if (!std::getline(in_, line)) {
        return false;
    }
    ++line_;
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    }
    return true;
}

void row_reporter::bad(const std::string & file, long line, const std::string & what) {
    if (o_.strict) {
        throw error_at(file, line, what + " (--strict-input)");
    }
    d_.problems.push_back({file, line, what});
}

void split_on(const std::string & line, std::string_view sep, std::vector<std::string> & out) {
    out.clear();
    size_t pos = 0;
    while (true) {
        const size_t next = line.find(sep, pos);
        if (next == std::string::npos) {
            out.push_back(line.substr(pos));
            return;
        }
        out.push_back(line.substr(pos, next - pos));
        pos = next + sep.size();
    }
}

std::vector<std::string> split_genres(const std::string & s, char sep) {
    std::vector<std::string> out;
    if (s == "(no genres listed)" || s.empty()) {
        return out;
    }
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t next = s.find(sep, pos);
        if (next == std::string::npos) {
            next = s.size();
        }
        if (next > pos) {
            out.push_back(s.substr(pos, next - pos));
        }
        pos = next + 1;
    }
    return out;
}

namespace {
bool valid_utf8(const std::string & s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        const size_t extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 4;
        if (extra == 4 || i + extra >= s.size()) {  // invalid lead byte, or cut off at the end
            return false;
        }
        for (size_t k = 1; k <= extra; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) {
                return false;
            }
        }
        i += 1 + extra;
    }
    return true;
}
}  // namespace

std::string to_utf8(const std::string & s) {
    if (valid_utf8(s)) {
        return s;
    }
    std::string out;
    out.reserve(s.size() + 8);
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x80) {
            out.push_back(ch);
        } else {
            out.push_back(static_cast<char>(0xC0 | (c >> 6)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
        }
    }
    return out;
}

bool id_tables::add_item(dataset & d, item it) {
    if (!items.emplace(it.id, static_cast<int32_t>(d.items.size())).second) {
        return false;
    }
    d.items.push_back(std::move(it));
    return true;
}

bool id_tables::add_user(dataset & d, user u) {
    if (!users.emplace(u.id, static_cast<int32_t>(d.users.size())).second) {
        return false;
    }
    d.users.push_back(std::move(u));
    return true;
}

int32_t id_tables::user_or_add(dataset & d, const std::string & id) {
    auto [it, added] = users.emplace(id, static_cast<int32_t>(d.users.size()));
    if (added) {
        d.users.push_back({id, "", "", ""});
    }
    return it->second;
}

void add_interaction(dataset & d, id_tables & ids, row_reporter & report, const line_reader & r,
                     const std::string & user_id, const std::string & item_id, const std::string & rating,
                     const std::string & timestamp) {
    float rv = 0;
    int64_t ts = 0;
    if (user_id.empty()) {
        report.bad(r, "empty user id");
        return;
    }
    if (!parse_number(rating, rv) || !parse_number(timestamp, ts)) {
        report.bad(r, "rating or timestamp is not a number ('" + rating + "', '" + timestamp + "')");
        return;
    }
    auto it = ids.items.find(item_id);
    if (it == ids.items.end()) {
        report.bad(r, "item " + item_id + " is not in the item file");
        return;
    }
    d.interactions.push_back({ids.user_or_add(d, user_id), it->second, rv, ts});
}

}  // namespace detail

dataset load_dataset(const std::string & dir, const load_options & opts) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        throw error("dataset folder not found: " + dir);
    }
    dataset d;
    d.name = fs::path(dir).filename().string();
    if (d.name.empty()) {
        d.name = fs::path(dir).parent_path().filename().string();
    }
    auto has = [&](const char * f) { return fs::exists(fs::path(dir) / f); };
    if (has("movies.csv") && has("ratings.csv")) {
        d.format = "ml-latest";
        detail::load_ml_latest(dir, d, opts);
    } else if (has("movies.dat") && has("ratings.dat")) {
        d.format = has("users.dat") ? "ml-1m" : "ml-10m";
        detail::load_ml_dat(dir, d, opts);
    } else if (has("u.item") && has("u.data")) {
        d.format = "ml-100k";
        detail::load_ml_100k(dir, d, opts);
    } else if (has("items.jsonl") && has("interactions.csv")) {
        d.format = "generic";
        detail::load_generic(dir, d, opts);
    } else {
        throw error(dir +
                    ": not a dataset dare knows; expected one of: movies.csv + ratings.csv (ml-latest, ml-25m), "
                    "movies.dat + ratings.dat (ml-1m, ml-10m), u.item + u.data (ml-100k), items.jsonl + "
                    "interactions.csv (generic, see docs/datasets.md)");
    }
    if (d.items.empty()) {
        throw error(dir + ": no valid items");
    }
    return d;
}

std::vector<int32_t> items_by_popularity(const dataset & d) {
    std::vector<int32_t> count(d.items.size(), 0);
    for (const auto & x : d.interactions) {
        ++count[x.item];
    }
    std::vector<int32_t> order(d.items.size());
    for (size_t i = 0; i < order.size(); ++i) {
        order[i] = static_cast<int32_t>(i);
    }
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return count[a] > count[b]; });
    return order;
}

std::vector<std::vector<int32_t>> user_histories(const dataset & d, const std::vector<int32_t> & subset) {
    std::vector<std::vector<int32_t>> h(d.users.size());
    for (int32_t k : subset) {
        h[d.interactions[k].user].push_back(k);
    }
    for (auto & v : h) {
        std::stable_sort(v.begin(), v.end(), [&](int32_t a, int32_t b) {
            return d.interactions[a].timestamp < d.interactions[b].timestamp;
        });
    }
    return h;
}

std::vector<std::vector<int32_t>> user_histories(const dataset & d) {
    return user_histories(d, interactions_with_top_items(d, 0));
}

std::vector<int32_t> interactions_with_top_items(const dataset & d, int32_t n) {
    std::vector<int32_t> kept;
    std::vector<char> keep(d.items.size(), n <= 0 ? 1 : 0);
    if (n > 0) {
        const auto pop = items_by_popularity(d);
        for (size_t k = 0; k < pop.size() && static_cast<int32_t>(k) < n; ++k) {
            keep[static_cast<size_t>(pop[k])] = 1;
        }
    }
    for (size_t k = 0; k < d.interactions.size(); ++k) {
        if (keep[static_cast<size_t>(d.interactions[k].item)]) {
            kept.push_back(static_cast<int32_t>(k));
        }
    }
    return kept;
}

ctr_split time_split(const dataset & d, const std::vector<int32_t> & kept, double test_fraction) {
    ctr_split s;
    for (const auto & h : user_histories(d, kept)) {
        if (h.size() < 2) {
            s.train.insert(s.train.end(), h.begin(), h.end());
            continue;
        }
        const size_t n_test = std::clamp<size_t>(static_cast<size_t>(std::ceil(test_fraction * h.size())), 1, h.size() - 1);
        s.train.insert(s.train.end(), h.begin(), h.end() - static_cast<long>(n_test));
        s.test.insert(s.test.end(), h.end() - static_cast<long>(n_test), h.end());
    }
    return s;
}

}  // namespace dare
