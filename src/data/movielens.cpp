// MovieLens loaders (ml-latest / ml-latest-small / ml-25m CSV shape).
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "dare/dataset.h"
#include "dare/error.h"

namespace dare {

bool split_csv_line(const std::string & line, std::vector<std::string> & fields) {
    fields.clear();
    std::string cur;
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"') {
                if (i + 1 < line.size() && line[i + 1] == '"') {
                    cur.push_back('"');
                    ++i;
                } else {
                    quoted = false;
                }
            } else {
                cur.push_back(c);
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            fields.push_back(std::move(cur));
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    fields.push_back(std::move(cur));
    return !quoted;
}

namespace {

class row_reporter {
  public:
    row_reporter(dataset & d, const load_options & o) : d_(d), o_(o) {}
    void bad(const std::string & file, long line, const std::string & what) {
        if (o_.strict) {
            throw error_at(file, line, what + " (--strict-input)");
        }
        d_.problems.push_back({file, line, what});
    }

  private:
    dataset & d_;
    const load_options & o_;
};

std::ifstream open_or_throw(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw error(path + ": cannot open (" + std::strerror(errno) + ")");
    }
    return in;
}

template <typename T>
bool parse_number(const std::string & s, T & out) {
    const char * b = s.data();
    const char * e = s.data() + s.size();
    auto [p, ec] = std::from_chars(b, e, out);
    return ec == std::errc() && p == e;
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

void load_ml_latest(const std::string & dir, dataset & d, const load_options & opts) {
    row_reporter report(d, opts);
    std::unordered_map<std::string, int32_t> item_index;
    std::unordered_map<std::string, int32_t> user_index;
    std::vector<std::string> f;
    std::string line;

    const std::string movies = dir + "/movies.csv";
    auto in = open_or_throw(movies);
    long lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (lineno == 1) {
            if (line.rfind("movieId,title,genres", 0) != 0) {
                throw error_at(movies, 1, "expected header movieId,title,genres");
            }
            continue;
        }
        if (line.empty()) {
            continue;
        }
        long id = 0;
        if (!split_csv_line(line, f)) {
            report.bad(movies, lineno, "unterminated quote");
            continue;
        }
        if (f.size() != 3) {
            report.bad(movies, lineno, "expected 3 fields, found " + std::to_string(f.size()));
            continue;
        }
        if (!parse_number(f[0], id)) {
            report.bad(movies, lineno, "movieId is not an integer: '" + f[0] + "'");
            continue;
        }
        if (f[1].empty()) {
            report.bad(movies, lineno, "empty title");
            continue;
        }
        if (!item_index.emplace(f[0], static_cast<int32_t>(d.items.size())).second) {
            report.bad(movies, lineno, "duplicate movieId " + f[0]);
            continue;
        }
        d.items.push_back({f[0], f[1], split_genres(f[2], '|')});
    }

    const std::string ratings = dir + "/ratings.csv";
    in = open_or_throw(ratings);
    lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (lineno == 1) {
            if (line.rfind("userId,movieId,rating,timestamp", 0) != 0) {
                throw error_at(ratings, 1, "expected header userId,movieId,rating,timestamp");
            }
            continue;
        }
        if (line.empty()) {
            continue;
        }
        long uid = 0;
        float rating = 0;
        int64_t ts = 0;
        if (!split_csv_line(line, f) || f.size() != 4) {
            report.bad(ratings, lineno, "expected 4 fields userId,movieId,rating,timestamp");
            continue;
        }
        if (!parse_number(f[0], uid) || !parse_number(f[2], rating) || !parse_number(f[3], ts)) {
            report.bad(ratings, lineno, "non-numeric userId, rating or timestamp");
            continue;
        }
        auto it = item_index.find(f[1]);
        if (it == item_index.end()) {
            report.bad(ratings, lineno, "movieId " + f[1] + " is not in movies.csv");
            continue;
        }
        auto [uit, added] = user_index.emplace(f[0], static_cast<int32_t>(d.users.size()));
        if (added) {
            d.users.push_back({f[0], "", "", ""});
        }
        d.interactions.push_back({uit->second, it->second, rating, ts});
    }
}

}  // namespace

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
    if (fs::exists(fs::path(dir) / "movies.csv") && fs::exists(fs::path(dir) / "ratings.csv")) {
        d.format = "ml-latest";
        load_ml_latest(dir, d, opts);
    } else {
        throw error(dir + ": not a dataset dare knows (expected MovieLens movies.csv + ratings.csv)");
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

}  // namespace dare
