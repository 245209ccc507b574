// Record grouping for customized pools (see dare/grouping.h).
#include <algorithm>
#include <cmath>
#include <fstream>

#include "../util/mix.h"
#include "dare/error.h"
#include "dare/grouping.h"
#include "dare/jsonl.h"

namespace dare {

std::vector<int64_t> grouping::sizes() const {
    std::vector<int64_t> s(names.size(), 0);
    for (int32_t g : of) {
        ++s[g];
    }
    return s;
}

std::map<std::string, std::string> default_genre_groups() {
    return {{"Action", "action"},      {"Adventure", "action"}, {"War", "action"},
            {"Western", "action"},     {"IMAX", "action"},      {"Sci-Fi", "scifi-fantasy"},
            {"Fantasy", "scifi-fantasy"}, {"Animation", "family"}, {"Children", "family"},
            {"Children's", "family"},  {"Musical", "family"},   {"Comedy", "comedy"},
            {"Drama", "drama"},        {"Romance", "drama"},    {"Crime", "crime-thriller"},
            {"Thriller", "crime-thriller"}, {"Mystery", "crime-thriller"}, {"Film-Noir", "crime-thriller"},
            {"Horror", "horror"},      {"Documentary", "documentary"}};
}

std::map<std::string, std::string> load_genre_groups(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw error(path + ": cannot open genre group map");
    }
    const json j = json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.empty()) {
        throw error(path + ": expected a non-empty JSON object {\"Genre\": \"group\", ...}");
    }
    std::map<std::string, std::string> m;
    for (const auto & [genre, group] : j.items()) {
        if (!group.is_string() || group.get<std::string>().empty()) {
            throw error(path + ": the group of genre \"" + genre + "\" must be a non-empty string");
        }
        m[genre] = group.get<std::string>();
    }
    return m;
}

namespace {

grouping one_group(size_t n) {
    grouping g;
    g.method = "none";
    g.names = {"all"};
    g.of.assign(n, 0);
    return g;
}

grouping random_groups(size_t n, int32_t k, uint64_t seed, const char * prefix) {
    grouping g;
    g.method = "random";
    k = std::max<int32_t>(k, 1);
    for (int32_t i = 0; i < k; ++i) {
        g.names.push_back(prefix + std::to_string(i));
    }
    uint64_t s = seed ^ 0x5EEDull;
    g.of.resize(n);
    for (auto & x : g.of) {
        x = static_cast<int32_t>(mix::splitmix64(s) % static_cast<uint64_t>(k));
    }
    return g;
}

void center_and_normalize(std::vector<float> & v, int32_t dim) {
    const size_t n = v.size() / static_cast<size_t>(dim);
    if (n == 0) {
        return;
    }
    std::vector<double> mean(static_cast<size_t>(dim), 0.0);
    for (size_t i = 0; i < n; ++i) {
        for (int32_t j = 0; j < dim; ++j) {
            mean[j] += v[i * dim + j];
        }
    }
    for (size_t i = 0; i < n; ++i) {
        double norm = 0;
        for (int32_t j = 0; j < dim; ++j) {
            v[i * dim + j] -= static_cast<float>(mean[j] / static_cast<double>(n));
            norm += static_cast<double>(v[i * dim + j]) * v[i * dim + j];
        }
        const float inv = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
        for (int32_t j = 0; j < dim; ++j) {
            v[i * dim + j] *= inv;
        }
    }
}

void check_method(const std::string & method) {
    if (method != "customized" && method != "random" && method != "none") {
        throw error("--grouping must be customized, random or none (got '" + method + "')");
    }
}

}  // namespace

grouping group_users(const dataset & d, const std::string & method, int32_t k, uint64_t seed) {
    check_method(method);
    if (k < 1) {
        throw error("--user-groups must be at least 1");
    }
    if (method == "none") {
        return one_group(d.users.size());
    }
    if (method == "random") {
        return random_groups(d.users.size(), k, seed, "random-");
    }
    bpr_options bo;
    bo.seed = seed;
    embeddings e = train_bpr(d, bo);
    // Cluster taste, not activity: every user shares the popular items'
    // direction and heavy raters have long vectors, so plain k-means on the
    // raw vectors put 667 of 671 users of ml-latest-small in one cluster.
    // Centre the vectors, then scale each to unit length (spherical k-means).
    center_and_normalize(e.users, e.dim);
    grouping g;
    g.method = "collaborative";
    g.of = kmeans(e.users, e.dim, k, seed);
    const int32_t used = g.of.empty() ? 0 : *std::max_element(g.of.begin(), g.of.end()) + 1;
    for (int32_t i = 0; i < used; ++i) {
        g.names.push_back("cluster-" + std::to_string(i));
    }
    return g;
}

grouping group_items(const dataset & d, const std::string & method, const std::map<std::string, std::string> & genre_map,
                     uint64_t seed) {
    check_method(method);
    if (method == "none") {
        return one_group(d.items.size());
    }
    grouping g;
    g.method = "attribute";
    std::map<std::string, int32_t> index;
    auto group_index = [&](const std::string & name) {
        auto [it, added] = index.emplace(name, static_cast<int32_t>(g.names.size()));
        if (added) {
            g.names.push_back(name);
        }
        return it->second;
    };
    // Group names in the map's order of first use over the dataset, so the
    // numbering is stable for a dataset.
    g.of.reserve(d.items.size());
    for (const auto & it : d.items) {
        std::string name = "other";
        for (const auto & genre : it.genres) {
            auto m = genre_map.find(genre);
            if (m != genre_map.end()) {
                name = m->second;
                break;
            }
        }
        g.of.push_back(group_index(name));
    }
    if (method == "random") {
        return random_groups(d.items.size(), static_cast<int32_t>(g.names.size()), seed, "random-");
    }
    return g;
}

}  // namespace dare
