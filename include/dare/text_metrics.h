// Text-level comparison of two runs over the same records (`dare eval
// text`): how much relaxed verification changed the words before any model
// is trained on them. Texts are compared as word sequences: lower-cased runs
// of letters, digits and apostrophes (other characters separate words).
//   ROUGE-L F1   longest common subsequence of words, F = 2PR / (P + R) with
//                P = LCS / |candidate|, R = LCS / |reference| (0 when either
//                is empty, 1 when both are)
//   exact match  the two texts are byte-identical
//   distinct-2   distinct word bigrams / word bigrams, over all of a run's
//                texts (lexical variety; bigrams do not cross texts)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dare/jsonl.h"

namespace dare {

std::vector<std::string> words_of(const std::string & text);
double rouge_l_f1(const std::vector<std::string> & candidate, const std::vector<std::string> & reference);
double distinct_2(const std::vector<std::vector<std::string>> & texts);

struct text_comparison {
    int64_t records = 0;       // in both runs (matched by kind:id)
    int64_t only_a = 0, only_b = 0;
    double rouge_l_mean = 0;
    double exact_match_rate = 0;
    double distinct_2_a = 0, distinct_2_b = 0;  // over the matched records
    // Text health of the matched records (health.h, health_totals) by kind
    // ("item", "user", or "record" for files without kinds) and "all": the
    // records' own "health" objects, or measured from their prompts.
    std::map<std::string, json> health_a, health_b;
};

// Compares RUNDIR_A/knowledge.jsonl with RUNDIR_B/knowledge.jsonl (a
// knowledge JSONL file may be given instead of a folder); A is the reference.
// Also totals each run's text health over the matched records.
text_comparison compare_runs_text(const std::string & a, const std::string & b);

}  // namespace dare
