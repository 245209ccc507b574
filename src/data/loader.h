// Internal helpers the dataset loaders share: a line reader that counts lines
// and strips CR, the malformed-row reporter (strict mode throws), number
// parsing, Latin-1 to UTF-8, and the id -> index tables every loader builds.
#pragma once

#include <charconv>
#include <fstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dare/dataset.h"
#include "dare/error.h"

namespace dare::detail {

class line_reader {
  public:
    explicit line_reader(std::string path);
    // Next line without its newline or CR; false at end of file.
    bool next(std::string & line);
    long line_number() const { return line_; }
    const std::string & path() const { return path_; }

  private:
    std::string path_;
    std::ifstream in_;
    long line_ = 0;
};

class row_reporter {
  public:
    row_reporter(dataset & d, const load_options & o) : d_(d), o_(o) {}
    void bad(const std::string & file, long line, const std::string & what);
    void bad(const line_reader & r, const std::string & what) { bad(r.path(), r.line_number(), what); }

  private:
    dataset & d_;
    const load_options & o_;
};

template <typename T>
bool parse_number(std::string_view s, T & out) {
    const char * b = s.data();
    const char * e = s.data() + s.size();
    auto [p, ec] = std::from_chars(b, e, out);
    return ec == std::errc() && p == e && b != e;
}

// Splits on a separator string ("::", "|", "\t"); empty fields kept.
void split_on(const std::string & line, std::string_view sep, std::vector<std::string> & out);

// Genres separated by `sep`; "(no genres listed)" and empty give none.
std::vector<std::string> split_genres(const std::string & s, char sep);

// Returns s unchanged when it is valid UTF-8, else reads it as Latin-1
// (the older MovieLens files) and converts.
std::string to_utf8(const std::string & s);

// id -> index tables; users are created on first sight in the interactions
// when the dataset has no user file (or the file misses them).
struct id_tables {
    std::unordered_map<std::string, int32_t> items;
    std::unordered_map<std::string, int32_t> users;
    bool add_item(dataset & d, item it);   // false on a duplicate id
    bool add_user(dataset & d, user u);    // false on a duplicate id
    int32_t user_or_add(dataset & d, const std::string & id);
};

// Appends an interaction after checking the item exists and the numbers
// parse; reports the row otherwise.
void add_interaction(dataset & d, id_tables & ids, row_reporter & report, const line_reader & r,
                     const std::string & user_id, const std::string & item_id, const std::string & rating,
                     const std::string & timestamp);

void load_ml_latest(const std::string & dir, dataset & d, const load_options & o);  // movies.csv, ratings.csv
void load_ml_dat(const std::string & dir, dataset & d, const load_options & o);     // movies.dat, ratings.dat[, users.dat]
void load_ml_100k(const std::string & dir, dataset & d, const load_options & o);    // u.item, u.data, u.user
void load_generic(const std::string & dir, dataset & d, const load_options & o);    // items.jsonl, interactions.csv[, users.jsonl]

}  // namespace dare::detail
