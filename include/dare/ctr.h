// `dare eval ctr`: does generated knowledge help a CTR model, and does
// relaxed verification change that? A click-through task is built from a
// dataset's ratings (positive = rating >= --positive), split per user in
// time (each user's last --test-fraction of interactions, at least one, is
// test), and a gradient-boosted tree model (XGBoost) is trained with the
// same seed and hyperparameters on
//   none        base features only
//   <run>       base features + that run's user and item knowledge vectors
//               (`dare encode`), each reduced to --pca-dim by a PCA fitted
//               on the training rows' users/items (Eigen)
// Base features follow KAR's use of the user's history: for an interaction
// at time t, counts, positive rates and mean ratings of the user and of the
// item, and the user's positive rate on the item's genres, all computed from
// TRAINING interactions strictly before t (so no test label, and no label of
// the row itself, reaches any feature), plus the item's genres and year.
// Reported per setting: AUC and LogLoss on the test rows with percentile
// bootstrap intervals (test rows resampled, same resamples for every
// setting), and each knowledge setting's AUC difference from the first
// knowledge setting with its paired interval.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dare/dataset.h"

namespace dare {

struct ctr_options {
    std::string dataset;
    std::vector<std::string> knowledge;  // run folders with embeddings/ (dare encode)
    int32_t top_items = 0;               // keep interactions with the N most-rated items (0 = all)
    float positive = 4.0f;
    double test_fraction = 0.1;
    int32_t pca_dim = 16;
    int32_t rounds = 200;
    int32_t max_depth = 6;
    float eta = 0.1f;
    int32_t bootstrap = 1000;
    uint64_t seed = 42;
    int32_t threads = 0;
    std::string json_out;
};

// Row-major feature matrix for `rows` (interaction indices, train then
// test), labels and column names.
struct feature_table {
    std::vector<std::string> names;
    std::vector<float> x;  // rows.size() x names.size()
    std::vector<float> y;
    int32_t cols() const { return static_cast<int32_t>(names.size()); }
};
feature_table base_features(const dataset & d, const ctr_split & split, float positive);

// One knowledge run's columns for `rows` (interaction indices): the item's
// vector, then the user's, each projected on the top `pca_dim` principal
// directions of the vectors of the items (users) that have a training
// interaction; items and users seen only in test rows take no part in the
// fit. NaN where the run has no vector for the row's item (user).
struct knowledge_columns {
    int32_t item_cols = 0, user_cols = 0;
    std::vector<float> x;  // rows.size() x (item_cols + user_cols)
    std::vector<bool> has_item, has_user;
};
knowledge_columns knowledge_features(const dataset & d, const ctr_split & split, const std::vector<int32_t> & rows,
                                     const std::string & run, int32_t pca_dim);

// Area under the ROC curve (ties count half); NaN when a class is missing.
double auc(const std::vector<float> & score, const std::vector<float> & label);
double logloss(const std::vector<float> & prob, const std::vector<float> & label);

struct ctr_result {
    std::string setting;
    double auc = 0, auc_lo = 0, auc_hi = 0;
    double logloss = 0, logloss_lo = 0, logloss_hi = 0;
    double dauc = 0, dauc_lo = 0, dauc_hi = 0;  // minus the first knowledge setting (paired)
    int64_t train_rows = 0, test_rows = 0;
    double knowledge_coverage = 0;  // test rows whose user and item both have vectors
};

std::vector<ctr_result> run_ctr_eval(const ctr_options & o);
std::string ctr_table(const std::vector<ctr_result> & r);

}  // namespace dare
