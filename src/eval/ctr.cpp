// CTR evaluation with and without knowledge vectors (contract in include/dare/ctr.h).
#include "dare/ctr.h"

#include <xgboost/c_api.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <tuple>
#include <thread>

#include "dare/error.h"
#include "dare/jsonl.h"
#include "util/mix.h"

namespace fs = std::filesystem;

namespace dare {

namespace {

int32_t year_of(const std::string & title) {
    // "Title (1995)" -> 1995; 0 when absent.
    const auto p = title.rfind('(');
    if (p == std::string::npos || p + 5 >= title.size() || title[p + 5] != ')') {
        return 0;
    }
    int32_t y = 0;
    for (size_t k = p + 1; k < p + 5; ++k) {
        if (!std::isdigit(static_cast<unsigned char>(title[k]))) {
            return 0;
        }
        y = y * 10 + (title[k] - '0');
    }
    return y;
}

struct rate {
    double n = 0, pos = 0, sum = 0;
};

}  // namespace

feature_table base_features(const dataset & d, const ctr_split & split, float positive) {
    std::map<std::string, int32_t> genre_ix;
    for (const auto & it : d.items) {
        for (const auto & g : it.genres) {
            genre_ix.emplace(g, 0);
        }
    }
    int32_t gi = 0;
    for (auto & [g, ix] : genre_ix) {
        ix = gi++;
    }
    feature_table t;
    t.names = {"user_log_count",  "user_pos_rate",  "user_mean_rating", "item_log_count",
               "item_pos_rate",   "item_mean_rating", "user_genre_pos_rate", "item_year"};
    for (const auto & [g, ix] : genre_ix) {
        t.names.push_back("genre_" + g);
    }
    const size_t cols = t.names.size();
    std::vector<int32_t> rows = split.train;
    rows.insert(rows.end(), split.test.begin(), split.test.end());
    std::vector<char> is_train(d.interactions.size(), 0);
    for (int32_t k : split.train) {
        is_train[static_cast<size_t>(k)] = 1;
    }
    t.x.assign(rows.size() * cols, 0.0f);
    t.y.resize(rows.size());

    // Rates are smoothed toward priors from the training labels seen so far
    // (themselves smoothed toward a neutral 0.5 and `positive`), so no row's
    // features depend on its own label or on anything later in time.
    constexpr double kSmooth = 5.0;
    auto smooth = [&](double x, double n, double prior) { return (x + kSmooth * prior) / (n + kSmooth); };
    rate all;

    // Walk all rows in time; rows sharing a timestamp see only earlier ones.
    std::vector<size_t> order(rows.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return d.interactions[rows[a]].timestamp < d.interactions[rows[b]].timestamp;
    });
    std::vector<rate> users(d.users.size()), items(d.items.size());
    std::map<std::pair<int32_t, int32_t>, rate> user_genre;
    for (size_t lo = 0; lo < order.size();) {
        size_t hi = lo;
        const int64_t ts = d.interactions[rows[order[lo]]].timestamp;
        const double prior_pos = smooth(all.pos, all.n, 0.5), prior_mean = smooth(all.sum, all.n, positive);
        while (hi < order.size() && d.interactions[rows[order[hi]]].timestamp == ts) {
            ++hi;
        }
        for (size_t q = lo; q < hi; ++q) {
            const size_t r = order[q];
            const auto & in = d.interactions[rows[r]];
            const rate & u = users[static_cast<size_t>(in.user)];
            const rate & it = items[static_cast<size_t>(in.item)];
            float * f = &t.x[r * cols];
            const double u_pos = smooth(u.pos, u.n, prior_pos);
            f[0] = static_cast<float>(std::log1p(u.n));
            f[1] = static_cast<float>(u_pos);
            f[2] = static_cast<float>(smooth(u.sum, u.n, prior_mean));
            f[3] = static_cast<float>(std::log1p(it.n));
            f[4] = static_cast<float>(smooth(it.pos, it.n, prior_pos));
            f[5] = static_cast<float>(smooth(it.sum, it.n, prior_mean));
            const auto & genres = d.items[static_cast<size_t>(in.item)].genres;
            double aff = 0;
            for (const auto & g : genres) {
                const auto ug = user_genre.find({in.user, genre_ix[g]});
                aff += ug == user_genre.end() ? u_pos : smooth(ug->second.pos, ug->second.n, u_pos);
                f[8 + genre_ix[g]] = 1.0f;
            }
            f[6] = static_cast<float>(genres.empty() ? u_pos : aff / static_cast<double>(genres.size()));
            f[7] = static_cast<float>(year_of(d.items[static_cast<size_t>(in.item)].title));
            t.y[r] = in.rating >= positive ? 1.0f : 0.0f;
        }
        for (size_t q = lo; q < hi; ++q) {
            const int32_t k = rows[order[q]];
            if (!is_train[static_cast<size_t>(k)]) {
                continue;  // test labels never reach a feature
            }
            const auto & in = d.interactions[k];
            const double pos = in.rating >= positive;
            for (rate * x : {&users[static_cast<size_t>(in.user)], &items[static_cast<size_t>(in.item)], &all}) {
                x->n += 1;
                x->pos += pos;
                x->sum += in.rating;
            }
            for (const auto & g : d.items[static_cast<size_t>(in.item)].genres) {
                rate & ug = user_genre[{in.user, genre_ix[g]}];
                ug.n += 1;
                ug.pos += pos;
            }
        }
        lo = hi;
    }
    return t;
}

double auc(const std::vector<float> & score, const std::vector<float> & label) {
    std::vector<size_t> idx(score.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
    double rank_sum = 0, n_pos = 0;
    for (size_t i = 0; i < idx.size();) {
        size_t j = i;
        while (j < idx.size() && score[idx[j]] == score[idx[i]]) {
            ++j;
        }
        const double mid_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;  // ties: average rank
        for (size_t k = i; k < j; ++k) {
            if (label[idx[k]] > 0.5f) {
                rank_sum += mid_rank;
                n_pos += 1;
            }
        }
        i = j;
    }
    const double n_neg = static_cast<double>(score.size()) - n_pos;
    if (n_pos == 0 || n_neg == 0) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

double logloss(const std::vector<float> & prob, const std::vector<float> & label) {
    double s = 0;
    for (size_t i = 0; i < prob.size(); ++i) {
        const double p = std::clamp(static_cast<double>(prob[i]), 1e-7, 1 - 1e-7);
        s -= label[i] > 0.5f ? std::log(p) : std::log(1 - p);
    }
    return prob.empty() ? 0.0 : s / static_cast<double>(prob.size());
}

namespace {

// A run's knowledge vectors of one kind, by dataset id.
struct vectors {
    int32_t dim = 0;
    std::map<std::string, std::vector<float>> by_id;
};

vectors load_vectors(const std::string & rundir, const std::string & kind) {
    const fs::path dir = fs::path(rundir) / "embeddings";
    const std::string npy = (dir / (kind + ".npy")).string(), ids = (dir / (kind + "_ids.txt")).string();
    if (!fs::exists(npy) || !fs::exists(ids)) {
        throw error(npy + " missing: run `dare encode " + rundir + "` first");
    }
    const std::string s = read_file_bytes(npy);
    if (s.size() < 10 || s.compare(0, 6, "\x93NUMPY") != 0) {
        throw error(npy + ": not a NumPy .npy file");
    }
    const size_t hlen = static_cast<unsigned char>(s[8]) | (static_cast<size_t>(static_cast<unsigned char>(s[9])) << 8);
    const std::string h = s.substr(10, hlen);
    long long rows = 0, cols = 0;
    const auto sp = h.find("'shape': (");
    if (h.find("'<f4'") == std::string::npos || sp == std::string::npos ||
        std::sscanf(h.c_str() + sp + 10, "%lld, %lld", &rows, &cols) != 2) {
        throw error(npy + ": expected a float32 (rows, dim) array");
    }
    if (s.size() != 10 + hlen + static_cast<size_t>(rows * cols) * sizeof(float)) {
        throw error(npy + ": size does not match its shape");
    }
    vectors v;
    v.dim = static_cast<int32_t>(cols);
    std::ifstream idf(ids);
    std::string line;
    for (long long r = 0; r < rows; ++r) {
        if (!std::getline(idf, line)) {
            throw error(ids + ": fewer ids than rows in " + npy);
        }
        std::vector<float> row(static_cast<size_t>(cols));
        std::memcpy(row.data(), s.data() + 10 + hlen + static_cast<size_t>(r * cols) * sizeof(float),
                    row.size() * sizeof(float));
        v.by_id[line] = std::move(row);
    }
    return v;
}

// PCA fitted on `fit_ids`' vectors: mean and the top-k principal directions.
struct pca {
    Eigen::VectorXd mean;
    Eigen::MatrixXd comps;  // dim x k
    void fit(const vectors & v, const std::vector<std::string> & fit_ids, int32_t k) {
        std::vector<const std::vector<float> *> xs;
        for (const auto & id : fit_ids) {
            const auto it = v.by_id.find(id);
            if (it != v.by_id.end()) {
                xs.push_back(&it->second);
            }
        }
        if (xs.size() < 2) {
            throw error("knowledge vectors cover fewer than 2 training users/items: nothing to fit a PCA on");
        }
        Eigen::MatrixXd X(static_cast<Eigen::Index>(xs.size()), v.dim);
        for (size_t r = 0; r < xs.size(); ++r) {
            for (int32_t c = 0; c < v.dim; ++c) {
                X(static_cast<Eigen::Index>(r), c) = (*xs[r])[static_cast<size_t>(c)];
            }
        }
        mean = X.colwise().mean().transpose();
        X.rowwise() -= mean.transpose();
        const Eigen::MatrixXd cov = X.transpose() * X / static_cast<double>(xs.size() - 1);
        Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(cov);
        const int32_t kk = std::min<int32_t>(k, v.dim);
        comps = es.eigenvectors().rightCols(kk).rowwise().reverse();  // largest eigenvalue first
    }
    void project(const std::vector<float> & x, float * out) const {
        Eigen::VectorXd c(mean.size());
        for (Eigen::Index i = 0; i < c.size(); ++i) {
            c(i) = x[static_cast<size_t>(i)] - mean(i);
        }
        const Eigen::VectorXd p = comps.transpose() * c;
        for (Eigen::Index i = 0; i < p.size(); ++i) {
            out[i] = static_cast<float>(p(i));
        }
    }
};

void xgb_check(int rc, const char * what) {
    if (rc != 0) {
        throw error(std::string("XGBoost ") + what + ": " + XGBGetLastError());
    }
}

// Trains on the first n_train rows of X (row-major, cols wide) and predicts the rest.
std::vector<float> train_predict(const std::vector<float> & x, const std::vector<float> & y, size_t n_train, int32_t cols,
                                 const ctr_options & o) {
    const size_t n_test = y.size() - n_train;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    DMatrixHandle dtrain = nullptr, dtest = nullptr;
    BoosterHandle booster = nullptr;
    std::vector<float> pred;
    try {
        xgb_check(XGDMatrixCreateFromMat(x.data(), n_train, static_cast<bst_ulong>(cols), nan, &dtrain), "train matrix");
        xgb_check(XGDMatrixSetFloatInfo(dtrain, "label", y.data(), n_train), "labels");
        xgb_check(XGDMatrixCreateFromMat(x.data() + n_train * static_cast<size_t>(cols), n_test,
                                         static_cast<bst_ulong>(cols), nan, &dtest),
                  "test matrix");
        xgb_check(XGBoosterCreate(&dtrain, 1, &booster), "booster");
        const int32_t threads = o.threads > 0 ? o.threads : static_cast<int32_t>(std::thread::hardware_concurrency());
        const std::vector<std::pair<std::string, std::string>> params = {
            {"objective", "binary:logistic"}, {"tree_method", "hist"},
            {"max_depth", std::to_string(o.max_depth)}, {"eta", std::to_string(o.eta)},
            {"subsample", "0.8"}, {"colsample_bytree", "0.8"},
            {"seed", std::to_string(o.seed)}, {"nthread", std::to_string(threads)}, {"verbosity", "0"}};
        for (const auto & [k, v] : params) {
            xgb_check(XGBoosterSetParam(booster, k.c_str(), v.c_str()), "parameter");
        }
        for (int32_t it = 0; it < o.rounds; ++it) {
            xgb_check(XGBoosterUpdateOneIter(booster, it, dtrain), "training");
        }
        bst_ulong len = 0;
        const float * out = nullptr;
        xgb_check(XGBoosterPredict(booster, dtest, 0, 0, 0, &len, &out), "prediction");
        pred.assign(out, out + len);
    } catch (...) {
        XGBoosterFree(booster);
        XGDMatrixFree(dtrain);
        XGDMatrixFree(dtest);
        throw;
    }
    XGBoosterFree(booster);
    XGDMatrixFree(dtrain);
    XGDMatrixFree(dtest);
    return pred;
}

std::pair<double, double> percentile_interval(std::vector<double> v) {
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
    if (v.empty()) {
        return {std::nan(""), std::nan("")};
    }
    std::sort(v.begin(), v.end());
    const auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
    return {at(0.025), at(0.975)};
}

}  // namespace

knowledge_columns knowledge_features(const dataset & d, const ctr_split & split, const std::vector<int32_t> & rows,
                                     const std::string & run, int32_t pca_dim) {
    const vectors iv = load_vectors(run, "item"), uv = load_vectors(run, "user");
    std::vector<std::string> train_items, train_users;
    {
        std::set<int32_t> is, us;
        for (int32_t k : split.train) {
            is.insert(d.interactions[k].item);
            us.insert(d.interactions[k].user);
        }
        for (int32_t i : is) train_items.push_back(d.items[static_cast<size_t>(i)].id);
        for (int32_t u : us) train_users.push_back(d.users[static_cast<size_t>(u)].id);
    }
    pca ip, up;
    ip.fit(iv, train_items, pca_dim);
    up.fit(uv, train_users, pca_dim);
    knowledge_columns kc;
    kc.item_cols = static_cast<int32_t>(ip.comps.cols());
    kc.user_cols = static_cast<int32_t>(up.comps.cols());
    const size_t cols = static_cast<size_t>(kc.item_cols + kc.user_cols);
    kc.x.assign(rows.size() * cols, std::numeric_limits<float>::quiet_NaN());
    kc.has_item.assign(rows.size(), false);
    kc.has_user.assign(rows.size(), false);
    for (size_t r = 0; r < rows.size(); ++r) {
        float * f = &kc.x[r * cols];
        const auto & in = d.interactions[rows[r]];
        const auto ii = iv.by_id.find(d.items[static_cast<size_t>(in.item)].id);
        const auto uu = uv.by_id.find(d.users[static_cast<size_t>(in.user)].id);
        if (ii != iv.by_id.end()) {
            ip.project(ii->second, f);
            kc.has_item[r] = true;
        }
        if (uu != uv.by_id.end()) {
            up.project(uu->second, f + kc.item_cols);
            kc.has_user[r] = true;
        }
    }
    return kc;
}

std::vector<ctr_result> run_ctr_eval(const ctr_options & o) {
    const dataset d = load_dataset(o.dataset);
    const std::vector<int32_t> kept = interactions_with_top_items(d, o.top_items);
    const ctr_split split = time_split(d, kept, o.test_fraction);
    if (split.train.empty() || split.test.empty()) {
        throw error(o.dataset + ": too few interactions for a train/test split");
    }
    const feature_table base = base_features(d, split, o.positive);
    const size_t n_train = split.train.size(), n_rows = n_train + split.test.size();
    std::vector<int32_t> rows = split.train;
    rows.insert(rows.end(), split.test.begin(), split.test.end());
    const std::vector<float> y_test(base.y.begin() + static_cast<long>(n_train), base.y.end());

    // Settings: none, then one per knowledge run.
    std::vector<ctr_result> results;
    std::vector<std::vector<float>> preds;
    {
        ctr_result r;
        r.setting = "none";
        preds.push_back(train_predict(base.x, base.y, n_train, base.cols(), o));
        results.push_back(r);
    }
    for (const auto & run : o.knowledge) {
        const knowledge_columns kc = knowledge_features(d, split, rows, run, o.pca_dim);
        const int32_t kcols = kc.item_cols + kc.user_cols;
        const int32_t cols = base.cols() + kcols;
        std::vector<float> x(n_rows * static_cast<size_t>(cols));
        int64_t covered = 0;
        for (size_t r = 0; r < n_rows; ++r) {
            float * f = &x[r * static_cast<size_t>(cols)];
            std::copy_n(&base.x[r * static_cast<size_t>(base.cols())], base.cols(), f);
            std::copy_n(&kc.x[r * static_cast<size_t>(kcols)], kcols, f + base.cols());
            covered += r >= n_train && kc.has_item[r] && kc.has_user[r];
        }
        ctr_result res;
        res.setting = run;
        res.knowledge_coverage = static_cast<double>(covered) / static_cast<double>(split.test.size());
        preds.push_back(train_predict(x, base.y, n_train, cols, o));
        results.push_back(res);
    }

    // Point estimates and paired bootstrap intervals over the test rows.
    const size_t n_test = split.test.size();
    std::vector<std::vector<double>> b_auc(results.size()), b_ll(results.size()), b_d(results.size());
    uint64_t rng = o.seed ^ 0x9e3779b97f4a7c15ull;
    std::vector<float> sy(n_test), sp(n_test);
    std::vector<size_t> pick(n_test);
    for (int32_t b = 0; b < o.bootstrap; ++b) {
        for (auto & p : pick) {
            p = static_cast<size_t>(mix::uniform01(rng) * static_cast<double>(n_test)) % n_test;
        }
        std::vector<double> a(results.size());
        for (size_t s = 0; s < results.size(); ++s) {
            for (size_t k = 0; k < n_test; ++k) {
                sy[k] = y_test[pick[k]];
                sp[k] = preds[s][pick[k]];
            }
            a[s] = auc(sp, sy);
            b_auc[s].push_back(a[s]);
            b_ll[s].push_back(logloss(sp, sy));
        }
        for (size_t s = 1; s < results.size(); ++s) {
            b_d[s].push_back(a[s] - a[1]);
        }
    }
    for (size_t s = 0; s < results.size(); ++s) {
        auto & r = results[s];
        r.train_rows = static_cast<int64_t>(n_train);
        r.test_rows = static_cast<int64_t>(n_test);
        r.auc = auc(preds[s], y_test);
        r.logloss = logloss(preds[s], y_test);
        std::tie(r.auc_lo, r.auc_hi) = percentile_interval(b_auc[s]);
        std::tie(r.logloss_lo, r.logloss_hi) = percentile_interval(b_ll[s]);
        if (s >= 1) {
            r.dauc = r.auc - results[1].auc;
            std::tie(r.dauc_lo, r.dauc_hi) = percentile_interval(b_d[s]);
        }
    }
    if (!o.json_out.empty()) {
        json j;
        j["settings"] = {{"dataset", o.dataset},       {"top_items", o.top_items}, {"positive", o.positive},
                         {"test_fraction", o.test_fraction}, {"pca_dim", o.pca_dim}, {"rounds", o.rounds},
                         {"max_depth", o.max_depth},    {"eta", o.eta},           {"bootstrap", o.bootstrap},
                         {"seed", o.seed}};
        j["results"] = json::array();
        for (const auto & r : results) {
            j["results"].push_back({{"setting", r.setting},       {"auc", r.auc},
                                    {"auc_ci", {r.auc_lo, r.auc_hi}}, {"logloss", r.logloss},
                                    {"logloss_ci", {r.logloss_lo, r.logloss_hi}},
                                    {"delta_auc_vs_first_knowledge", r.dauc},
                                    {"delta_auc_ci", {r.dauc_lo, r.dauc_hi}},
                                    {"train_rows", r.train_rows}, {"test_rows", r.test_rows},
                                    {"knowledge_coverage", r.knowledge_coverage}});
        }
        write_file_atomically(o.json_out, j.dump(2) + "\n");
    }
    return results;
}

std::string ctr_table(const std::vector<ctr_result> & rs) {
    std::string out =
        "| setting | AUC | 95% CI | LogLoss | 95% CI | AUC minus first knowledge (95% CI) | test coverage |\n"
        "|---|---|---|---|---|---|---|\n";
    char buf[512];
    for (size_t s = 0; s < rs.size(); ++s) {
        const auto & r = rs[s];
        char delta[96] = "-";
        if (s >= 2) {
            std::snprintf(delta, sizeof delta, "%+.4f [%+.4f, %+.4f]", r.dauc, r.dauc_lo, r.dauc_hi);
        }
        std::snprintf(buf, sizeof buf, "| %s | %.4f | [%.4f, %.4f] | %.4f | [%.4f, %.4f] | %s | %s |\n",
                      r.setting.c_str(), r.auc, r.auc_lo, r.auc_hi, r.logloss, r.logloss_lo, r.logloss_hi, delta,
                      s == 0 ? "-" : (std::to_string(static_cast<int>(r.knowledge_coverage * 100 + 0.5)) + "%").c_str());
        out += buf;
    }
    return out;
}

}  // namespace dare
