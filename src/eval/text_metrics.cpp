// Word-level text metrics between runs (contract in include/dare/text_metrics.h).
#include "dare/text_metrics.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "dare/error.h"
#include "dare/health.h"
#include "dare/jsonl.h"

namespace dare {

std::vector<std::string> words_of(const std::string & text) {
    std::vector<std::string> out;
    std::string cur;
    for (const char ch : text) {
        const unsigned char c = static_cast<unsigned char>(ch);
        // Bytes >= 0x80 belong to UTF-8 letters (accents, other scripts): keep
        // them in words; an apostrophe stays inside a word ("user's").
        if (std::isalnum(c) || c >= 0x80 || c == '\'') {
            cur.push_back(static_cast<char>(std::tolower(c)));
        } else if (!cur.empty()) {
            out.push_back(std::move(cur));
            cur.clear();
        }
    }
    if (!cur.empty()) {
        out.push_back(std::move(cur));
    }
    return out;
}

double rouge_l_f1(const std::vector<std::string> & cand, const std::vector<std::string> & ref) {
    if (cand.empty() && ref.empty()) {
        return 1.0;
    }
    if (cand.empty() || ref.empty()) {
        return 0.0;
    }
    // LCS length with two rows.
    std::vector<int32_t> prev(ref.size() + 1, 0), cur(ref.size() + 1, 0);
    for (size_t i = 1; i <= cand.size(); ++i) {
        for (size_t j = 1; j <= ref.size(); ++j) {
            cur[j] = cand[i - 1] == ref[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
        }
        std::swap(prev, cur);
    }
    const double lcs = prev[ref.size()];
    if (lcs == 0) {
        return 0.0;
    }
    const double p = lcs / static_cast<double>(cand.size()), r = lcs / static_cast<double>(ref.size());
    return 2 * p * r / (p + r);
}

double distinct_2(const std::vector<std::vector<std::string>> & texts) {
    std::set<std::pair<std::string, std::string>> seen;
    int64_t total = 0;
    for (const auto & w : texts) {
        for (size_t i = 0; i + 1 < w.size(); ++i) {
            seen.emplace(w[i], w[i + 1]);
            ++total;
        }
    }
    return total ? static_cast<double>(seen.size()) / static_cast<double>(total) : 0.0;
}

namespace {

struct text_record {
    std::string text;
    std::string kind;  // item | user | "" (a dare generate file)
    json health;       // the record's own, or measured here from its prompt (no grounding)
};

std::map<std::string, text_record> texts_of(const std::string & run) {
    const std::string path =
        std::filesystem::is_directory(run) ? (std::filesystem::path(run) / "knowledge.jsonl").string() : run;
    if (!std::filesystem::exists(path)) {
        throw error(path + ": no such knowledge file");
    }
    std::map<std::string, text_record> out;
    for_each_jsonl_object(path, "knowledge file", [&](const json & j, long line) {
        if (!j.contains("text") || !j["text"].is_string() || !j.contains("id")) {
            throw error(path + ":" + std::to_string(line) + ": expected a record with \"id\" and a string \"text\"");
        }
        text_record r;
        r.text = j["text"].get<std::string>();
        r.kind = j.value("kind", "");
        if (j.contains("health") && j["health"].is_object()) {
            r.health = j["health"];
        } else if (j.contains("prompt") && j["prompt"].is_string()) {
            r.health = health_json(measure_health(j["prompt"].get<std::string>(), r.text));
        }
        out[record_key(j)] = std::move(r);
    });
    return out;
}

}  // namespace

text_comparison compare_runs_text(const std::string & a, const std::string & b) {
    const auto ta = texts_of(a), tb = texts_of(b);
    text_comparison c;
    std::vector<std::vector<std::string>> wa, wb;
    double rouge = 0;
    int64_t exact = 0;
    std::map<std::string, health_totals> ha, hb;
    for (const auto & [key, rec] : ta) {
        const auto it = tb.find(key);
        if (it == tb.end()) {
            ++c.only_a;
            continue;
        }
        wa.push_back(words_of(rec.text));
        wb.push_back(words_of(it->second.text));
        rouge += rouge_l_f1(wb.back(), wa.back());
        exact += rec.text == it->second.text;
        ++c.records;
        for (const std::string & kind : {rec.kind.empty() ? std::string("record") : rec.kind, std::string("all")}) {
            ha[kind].add(rec.health);
            hb[kind].add(it->second.health);
        }
    }
    for (const auto & [key, rec] : tb) {
        c.only_b += ta.count(key) ? 0 : 1;
    }
    for (const auto & [kind, t] : ha) {
        c.health_a[kind] = t.to_json();
        c.health_b[kind] = hb[kind].to_json();
    }
    if (c.records > 0) {
        c.rouge_l_mean = rouge / static_cast<double>(c.records);
        c.exact_match_rate = static_cast<double>(exact) / static_cast<double>(c.records);
    }
    c.distinct_2_a = distinct_2(wa);
    c.distinct_2_b = distinct_2(wb);
    return c;
}

}  // namespace dare
