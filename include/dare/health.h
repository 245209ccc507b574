// Text health of one knowledge record: is it new text, or the prompt echoed
// back; does it loop; does it name what the dataset knows about the record?
// Words are lower-cased runs of letters, digits and apostrophes (words_of,
// text_metrics.h). The two flags have fixed definitions, so figures compare
// across tools and runs:
//   echo_only  fewer than 15% of the text's words are absent from the
//              prompt's words (an empty text is echo-only: it says nothing new)
//   looped     some sequence of 5 words occurs 3 or more times in the text
//              (occurrences may overlap)
// Grounding against the dataset (docs/quality.md has the word forms):
//   item  share of its genres the text names, whether it names the year of
//         its title, share of its tags (when the dataset has tags) named
//   user  how many history titles and history genres the text names
// A record is healthy when it is neither echo-only nor looped.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dare/dataset.h"
#include "dare/jsonl.h"

namespace dare {

using word_seq = std::vector<std::string>;

// What a text about one record can be checked against. Each entry of
// `genres`, `titles` and `tags` is a list of alternative word sequences (any
// one of them names it).
struct grounding_ref {
    enum class kind_t { none, item, user } kind = kind_t::none;
    std::vector<std::vector<word_seq>> genres;  // item: its genres; user: genres of the history's items
    std::vector<std::vector<word_seq>> titles;  // user: the history's titles
    std::vector<std::vector<word_seq>> tags;    // item: its distinct tags
    std::string year;                           // item: from "(YYYY)" in its title, when there
};

grounding_ref item_grounding(const item & it);
grounding_ref user_grounding(const dataset & d, std::span<const int32_t> history);

// Word forms that name a genre: the MovieLens genres with their common
// variants ("Sci-Fi": sci fi, science fiction, scifi; "Children": children,
// kids, family, ...), any other genre as its own words.
std::vector<word_seq> genre_forms(const std::string & genre);

// A title as it is written in text: parenthesised parts (year, a.k.a.) left
// out and a trailing article put back in front ("Matrix, The (1999)" -> the
// matrix); returns the words.
word_seq title_words(const std::string & title);
// The word forms that name a title: title_words, and for a title with a
// trailing article also the dataset's own order ("jungle book the") and
// the title without its article ("jungle book").
std::vector<word_seq> title_forms(const std::string & title);

struct text_health {
    int32_t words = 0;
    double new_word_share = 0;  // of the text's words, those absent from the prompt's words
    bool echo_only = false;
    bool looped = false;
    int32_t longest_repeat = 0;  // longest word sequence occurring at least twice
    double distinct_2 = 0;       // distinct word bigrams / word bigrams of this text (0 below two words)
    grounding_ref::kind_t kind = grounding_ref::kind_t::none;
    // item
    double genres_named = 0;  // share of the item's genres named (0 when it has none)
    int32_t genres = 0;
    bool year_named = false;
    bool has_year = false;
    double tags_named = 0;
    int32_t tags = 0;
    // user
    int32_t titles_named = 0;
    int32_t history_genres_named = 0;
    bool healthy() const { return !echo_only && !looped; }
    // item: genres_named; user: 1 when a history title or genre is named.
    double grounding() const;
};

inline constexpr double kEchoNewWordShare = 0.15;
inline constexpr int kLoopWords = 5;
inline constexpr int kLoopCount = 3;

text_health measure_health(const std::string & prompt, const std::string & text, const grounding_ref & ref = {});

// Record form: {"new_words", "echo_only", "looped", "longest_repeat", "words",
// "distinct_2", and per kind "genres_named", "year_named", "tags_named" |
// "titles_named", "history_genres_named", "grounded"}.
json health_json(const text_health & h);

// Whether `needle` occurs as consecutive words of `hay`.
bool contains_words(const word_seq & hay, const word_seq & needle);

// Mean health over many records (a group, a phase, a run), from the records'
// "health" objects: shares of echo-only and looped records, mean new-word
// share, words, longest repeat, distinct-2 and grounding.
class health_totals {
  public:
    void add(const json & health);  // a record's "health" object
    int64_t records() const { return n_; }
    json to_json() const;           // {"records", "echo_only", "looped", "new_words", ...}; {} when empty

  private:
    int64_t n_ = 0, echo_ = 0, looped_ = 0, grounded_n_ = 0;
    double new_words_ = 0, words_ = 0, repeat_ = 0, distinct_ = 0, grounding_ = 0;
};

}  // namespace dare
