// Grouping users and items for customized retrieval pools (DARE): one pool
// per group of similar records.
//  - users, collaborative: BPR matrix factorisation on the interactions
//    (implicit feedback: every rating is a positive), then k-means on the user
//    embeddings. Deterministic for a seed on every platform (splitmix64 draws,
//    single-threaded SGD).
//  - items, attribute: the first of an item's genres that the genre -> group
//    map knows (MovieLens lists genres alphabetically); items with none go to
//    "other".
//  - random: uniform random groups of the same number (control).
//  - none: one group, "all" (one global pool, the ReSD setting).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "dare/dataset.h"

namespace dare {

struct bpr_options {
    int32_t dim = 32;
    int32_t epochs = 20;
    float learning_rate = 0.05f;
    float regularization = 1e-4f;
    uint64_t seed = 42;
};

struct embeddings {
    int32_t dim = 0;
    std::vector<float> users;  // n_users x dim, row-major
    std::vector<float> items;  // n_items x dim
};

// BPR-MF by SGD over (user, rated item, unrated item) triples.
embeddings train_bpr(const dataset & d, const bpr_options & o);

// Mean BPR ranking accuracy: the fraction of sampled (user, rated, unrated)
// triples the embeddings order correctly (0.5 = chance). For tests and logs.
double bpr_pair_accuracy(const dataset & d, const embeddings & e, int32_t samples, uint64_t seed);

// k-means (k-means++ seeding, Lloyd iterations until no point moves or
// `max_iter`). Returns a cluster per point, clusters numbered by first
// appearance so the labelling is stable.
std::vector<int32_t> kmeans(std::span<const float> points, int32_t dim, int32_t k, uint64_t seed,
                            int32_t max_iter = 100);

struct grouping {
    std::string method;              // collaborative | attribute | random | none
    std::vector<std::string> names;  // group names
    std::vector<int32_t> of;         // group index per user (or item)
    std::vector<int64_t> sizes() const;
};

// MovieLens genre -> group map (docs/pipeline.md lists it).
std::map<std::string, std::string> default_genre_groups();
// Reads {"Genre": "group", ...} from a JSON file; throws dare::error naming
// the file on bad content.
std::map<std::string, std::string> load_genre_groups(const std::string & path);

// method: "customized" (collaborative for users), "random", "none".
grouping group_users(const dataset & d, const std::string & method, int32_t k, uint64_t seed);
// method: "customized" (attribute for items), "random" (as many groups as the
// attribute grouping has), "none".
grouping group_items(const dataset & d, const std::string & method, const std::map<std::string, std::string> & genre_map,
                     uint64_t seed);

}  // namespace dare
