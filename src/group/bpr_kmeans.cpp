// BPR matrix factorisation and k-means (see dare/grouping.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "../util/mix.h"
#include "dare/error.h"
#include "dare/grouping.h"

namespace dare {

namespace {

// Per-user sorted item lists, to test "rated?" and draw negatives.
std::vector<std::vector<int32_t>> rated_items(const dataset & d) {
    std::vector<std::vector<int32_t>> r(d.users.size());
    for (const auto & x : d.interactions) {
        r[x.user].push_back(x.item);
    }
    for (auto & v : r) {
        std::sort(v.begin(), v.end());
        v.erase(std::unique(v.begin(), v.end()), v.end());
    }
    return r;
}

int32_t draw(uint64_t & s, size_t n) { return static_cast<int32_t>(mix::splitmix64(s) % n); }

// A random item the user has not rated (-1 if they rated everything).
int32_t draw_negative(uint64_t & s, const std::vector<int32_t> & rated, size_t n_items) {
    if (rated.size() >= n_items) {
        return -1;
    }
    while (true) {
        const int32_t j = draw(s, n_items);
        if (!std::binary_search(rated.begin(), rated.end(), j)) {
            return j;
        }
    }
}

float dot(const float * a, const float * b, int32_t n) {
    float s = 0;
    for (int32_t i = 0; i < n; ++i) {
        s += a[i] * b[i];
    }
    return s;
}

}  // namespace

embeddings train_bpr(const dataset & d, const bpr_options & o) {
    if (o.dim < 1 || o.epochs < 0) {
        throw error("BPR: dim must be >= 1 and epochs >= 0");
    }
    embeddings e;
    e.dim = o.dim;
    uint64_t s = o.seed;
    auto init = [&](std::vector<float> & v, size_t n) {
        v.resize(n * static_cast<size_t>(o.dim));
        for (auto & x : v) {
            x = static_cast<float>((mix::uniform01(s) - 0.5) * 0.2);
        }
    };
    init(e.users, d.users.size());
    init(e.items, d.items.size());
    if (d.interactions.empty() || d.items.size() < 2) {
        return e;
    }
    const auto rated = rated_items(d);
    std::vector<float> grad_u(static_cast<size_t>(o.dim));
    for (int32_t epoch = 0; epoch < o.epochs; ++epoch) {
        for (size_t step = 0; step < d.interactions.size(); ++step) {
            const auto & x = d.interactions[draw(s, d.interactions.size())];
            const int32_t j = draw_negative(s, rated[x.user], d.items.size());
            if (j < 0) {
                continue;
            }
            float * u = &e.users[static_cast<size_t>(x.user) * o.dim];
            float * pi = &e.items[static_cast<size_t>(x.item) * o.dim];
            float * pj = &e.items[static_cast<size_t>(j) * o.dim];
            const float diff = dot(u, pi, o.dim) - dot(u, pj, o.dim);
            const float g = 1.0f / (1.0f + std::exp(diff));  // sigmoid(-diff)
            for (int32_t k = 0; k < o.dim; ++k) {
                grad_u[k] = g * (pi[k] - pj[k]) - o.regularization * u[k];
                pi[k] += o.learning_rate * (g * u[k] - o.regularization * pi[k]);
                pj[k] += o.learning_rate * (-g * u[k] - o.regularization * pj[k]);
                u[k] += o.learning_rate * grad_u[k];
            }
        }
    }
    return e;
}

double bpr_pair_accuracy(const dataset & d, const embeddings & e, int32_t samples, uint64_t seed) {
    if (d.interactions.empty() || samples <= 0) {
        return 0.0;
    }
    const auto rated = rated_items(d);
    uint64_t s = seed;
    int32_t right = 0, total = 0;
    for (int32_t n = 0; n < samples; ++n) {
        const auto & x = d.interactions[draw(s, d.interactions.size())];
        const int32_t j = draw_negative(s, rated[x.user], d.items.size());
        if (j < 0) {
            continue;
        }
        const float * u = &e.users[static_cast<size_t>(x.user) * e.dim];
        right += dot(u, &e.items[static_cast<size_t>(x.item) * e.dim], e.dim) >
                 dot(u, &e.items[static_cast<size_t>(j) * e.dim], e.dim);
        ++total;
    }
    return total ? static_cast<double>(right) / total : 0.0;
}

std::vector<int32_t> kmeans(std::span<const float> points, int32_t dim, int32_t k, uint64_t seed, int32_t max_iter) {
    if (dim < 1 || points.size() % static_cast<size_t>(dim) != 0) {
        throw error("k-means: points are not a multiple of the dimension");
    }
    const size_t n = points.size() / static_cast<size_t>(dim);
    if (k < 1) {
        throw error("k-means: k must be at least 1");
    }
    std::vector<int32_t> label(n, 0);
    if (n == 0) {
        return label;
    }
    k = static_cast<int32_t>(std::min<size_t>(static_cast<size_t>(k), n));
    auto pt = [&](size_t i) { return &points[i * static_cast<size_t>(dim)]; };
    auto dist2 = [&](const float * a, const float * b) {
        float s = 0;
        for (int32_t j = 0; j < dim; ++j) {
            s += (a[j] - b[j]) * (a[j] - b[j]);
        }
        return s;
    };
    // k-means++ seeding.
    uint64_t s = seed;
    std::vector<float> centers(static_cast<size_t>(k) * dim);
    std::copy_n(pt(draw(s, n)), dim, centers.begin());
    std::vector<float> best(n, std::numeric_limits<float>::max());
    for (int32_t c = 1; c < k; ++c) {
        double total = 0;
        for (size_t i = 0; i < n; ++i) {
            best[i] = std::min(best[i], dist2(pt(i), &centers[static_cast<size_t>(c - 1) * dim]));
            total += best[i];
        }
        size_t pick = 0;
        if (total > 0) {
            double r = mix::uniform01(s) * total;
            for (pick = 0; pick + 1 < n; ++pick) {
                r -= best[pick];
                if (r < 0) {
                    break;
                }
            }
        } else {
            pick = draw(s, n);
        }
        std::copy_n(pt(pick), dim, centers.begin() + static_cast<size_t>(c) * dim);
    }
    // Lloyd iterations.
    std::fill(label.begin(), label.end(), -1);
    std::vector<double> sum(static_cast<size_t>(k) * dim);
    std::vector<int64_t> count(static_cast<size_t>(k));
    for (int32_t it = 0; it < max_iter; ++it) {
        bool moved = false;
        for (size_t i = 0; i < n; ++i) {
            int32_t arg = 0;
            float bd = std::numeric_limits<float>::max();
            for (int32_t c = 0; c < k; ++c) {
                const float dd = dist2(pt(i), &centers[static_cast<size_t>(c) * dim]);
                if (dd < bd) {
                    bd = dd;
                    arg = c;
                }
            }
            moved |= label[i] != arg;
            label[i] = arg;
        }
        if (!moved) {
            break;
        }
        std::fill(sum.begin(), sum.end(), 0.0);
        std::fill(count.begin(), count.end(), 0);
        for (size_t i = 0; i < n; ++i) {
            ++count[label[i]];
            for (int32_t j = 0; j < dim; ++j) {
                sum[static_cast<size_t>(label[i]) * dim + j] += pt(i)[j];
            }
        }
        for (int32_t c = 0; c < k; ++c) {
            if (count[c] == 0) {
                continue;  // an empty cluster keeps its center
            }
            for (int32_t j = 0; j < dim; ++j) {
                centers[static_cast<size_t>(c) * dim + j] = static_cast<float>(sum[static_cast<size_t>(c) * dim + j] / count[c]);
            }
        }
    }
    // Number clusters by first appearance.
    std::vector<int32_t> remap(static_cast<size_t>(k), -1);
    int32_t next = 0;
    for (auto & l : label) {
        if (remap[l] < 0) {
            remap[l] = next++;
        }
        l = remap[l];
    }
    return label;
}

}  // namespace dare
