// Recommendation datasets in one in-memory shape: items with titles and
// genres, users with optional demographics, and time-stamped ratings.
// Loaders report every malformed row with file and line; nothing is dropped
// silently (see dataset::problems).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dare {

struct item {
    std::string id;     // the dataset's own id, as text
    std::string title;  // UTF-8
    std::vector<std::string> genres;
    std::vector<std::string> tags{};  // distinct user-applied tags, first use first (when the dataset has them)
};

struct user {
    std::string id;
    std::string gender;      // empty when the dataset has no demographics
    std::string age;
    std::string occupation;
};

struct interaction {
    int32_t user = 0;  // index into dataset::users
    int32_t item = 0;  // index into dataset::items
    float rating = 0;
    int64_t timestamp = 0;
};

struct row_problem {
    std::string file;
    long line = 0;
    std::string what;
};

struct dataset {
    std::string name;    // folder name
    std::string format;  // "ml-latest", "ml-1m", "ml-10m", "ml-100k" or "generic"
    std::vector<item> items;
    std::vector<user> users;
    std::vector<interaction> interactions;
    std::vector<row_problem> problems;  // malformed rows that were skipped
};

struct load_options {
    bool strict = false;  // first malformed row is a fatal error
};

// Detects the dataset's shape from the folder's files and loads it:
//   movies.csv + ratings.csv [tags.csv] ml-latest, ml-latest-small, ml-25m
//   movies.dat + ratings.dat [users.dat] ml-10m, ml-1m (with demographics)
//   u.item + u.data [u.user, u.genre]   ml-100k (Latin-1 titles -> UTF-8)
//   items.jsonl + interactions.csv [users.jsonl]  generic (docs/datasets.md)
// Throws dare::error if the folder is not a dataset it knows, or (strict) on
// the first malformed row.
dataset load_dataset(const std::string & dir, const load_options & opts = {});

// Splits one CSV line (RFC 4180 quoting, no embedded newlines). Returns false
// on an unterminated quote.
bool split_csv_line(const std::string & line, std::vector<std::string> & fields);

// Items ordered by number of ratings, most-rated first (ties by position).
std::vector<int32_t> items_by_popularity(const dataset & d);

// For every user, the indices of their interactions in time order: all of
// them, or those listed in `subset`.
std::vector<std::vector<int32_t>> user_histories(const dataset & d);
std::vector<std::vector<int32_t>> user_histories(const dataset & d, const std::vector<int32_t> & subset);

// Indices of the interactions with the n most-rated items (all when n <= 0).
std::vector<int32_t> interactions_with_top_items(const dataset & d, int32_t n);

// Per-user time split of the interactions in `kept`: each user's last
// test_fraction of them (rounded up, at least one, never all) is test; a user
// with one interaction keeps it in train. `dare eval ctr` scores on the test
// part; `dare run --test-fraction` keeps it out of user prompts.
struct ctr_split {
    std::vector<int32_t> train, test;
};
ctr_split time_split(const dataset & d, const std::vector<int32_t> & kept, double test_fraction);

}  // namespace dare
