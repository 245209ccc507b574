// Text health of knowledge records (contract in include/dare/health.h).
#include "dare/health.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "dare/text_metrics.h"

namespace dare {

namespace {

std::vector<word_seq> forms(std::initializer_list<const char *> texts) {
    std::vector<word_seq> out;
    for (const char * t : texts) {
        out.push_back(words_of(t));
    }
    return out;
}

bool names_any(const word_seq & text, const std::vector<word_seq> & alternatives) {
    return std::any_of(alternatives.begin(), alternatives.end(),
                       [&](const word_seq & w) { return contains_words(text, w); });
}

int32_t count_named(const word_seq & text, const std::vector<std::vector<word_seq>> & things) {
    int32_t n = 0;
    for (const auto & alts : things) {
        n += names_any(text, alts) ? 1 : 0;
    }
    return n;
}

// The year of a MovieLens title, "Heat (1995)" -> "1995" (the last "(YYYY)").
std::string title_year(const std::string & title) {
    std::string year;
    for (size_t i = 0; i + 6 <= title.size(); ++i) {
        if (title[i] == '(' && title[i + 5] == ')' &&
            std::all_of(title.begin() + static_cast<std::ptrdiff_t>(i + 1), title.begin() + static_cast<std::ptrdiff_t>(i + 5),
                        [](char c) { return c >= '0' && c <= '9'; })) {
            year = title.substr(i + 1, 4);
        }
    }
    return year;
}

}  // namespace

bool contains_words(const word_seq & hay, const word_seq & needle) {
    if (needle.empty() || needle.size() > hay.size()) {
        return false;
    }
    return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

std::vector<word_seq> genre_forms(const std::string & genre) {
    static const std::map<std::string, std::vector<word_seq>> known = {
        {"action", forms({"action"})},
        {"adventure", forms({"adventure", "adventures", "adventurous"})},
        {"animation", forms({"animation", "animated"})},
        {"children", forms({"children", "children's", "child", "kids", "family"})},
        {"children's", forms({"children", "children's", "child", "kids", "family"})},
        {"comedy", forms({"comedy", "comedies", "comedic"})},
        {"crime", forms({"crime", "crimes", "criminal"})},
        {"documentary", forms({"documentary", "documentaries"})},
        {"drama", forms({"drama", "dramas", "dramatic"})},
        {"fantasy", forms({"fantasy", "fantastical"})},
        {"film-noir", forms({"film noir", "noir"})},
        {"horror", forms({"horror"})},
        {"imax", forms({"imax"})},
        {"musical", forms({"musical", "musicals"})},
        {"mystery", forms({"mystery", "mysteries", "mysterious"})},
        {"romance", forms({"romance", "romantic"})},
        {"sci-fi", forms({"sci fi", "science fiction", "scifi"})},
        {"thriller", forms({"thriller", "thrillers", "thrilling"})},
        {"war", forms({"war", "wartime"})},
        {"western", forms({"western", "westerns"})},
    };
    std::string key;
    for (char c : genre) {
        key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    if (key == "(no genres listed)" || key == "unknown") {
        return {};
    }
    const auto it = known.find(key);
    if (it != known.end()) {
        return it->second;
    }
    word_seq w = words_of(genre);
    return w.empty() ? std::vector<word_seq>{} : std::vector<word_seq>{w};
}

namespace {
// A title without its parenthesised parts: "Seven (a.k.a. Se7en) (1995)" -> "Seven  ".
std::string without_parentheses(const std::string & title) {
    std::string plain;
    int depth = 0;
    for (char c : title) {
        if (c == '(') {
            ++depth;
        } else if (c == ')') {
            depth = std::max(0, depth - 1);
        } else if (depth == 0) {
            plain.push_back(c);
        }
    }
    return plain;
}
}  // namespace

word_seq title_words(const std::string & title) {
    const std::string plain = without_parentheses(title);
    // "Matrix, The" -> "The Matrix" (MovieLens moves leading articles to the end).
    static const std::set<std::string> articles = {"the", "a", "an", "la", "le", "les", "il", "el", "l'", "das",
                                                   "der", "die"};
    word_seq w = words_of(plain);
    const size_t comma = plain.rfind(',');
    if (comma != std::string::npos) {
        const word_seq tail = words_of(plain.substr(comma + 1));
        if (tail.size() == 1 && articles.count(tail[0]) && w.size() > 1) {
            w.pop_back();
            w.insert(w.begin(), tail[0]);
        }
    }
    return w;
}

std::vector<word_seq> title_forms(const std::string & title) {
    std::vector<word_seq> forms;
    word_seq w = title_words(title);
    if (w.empty()) {
        return forms;
    }
    forms.push_back(w);
    // As the dataset lists it ("Jungle Book, The"), and without its article.
    word_seq listed = words_of(without_parentheses(title));
    if (listed != w) {
        forms.push_back(listed);
        forms.push_back(word_seq(w.begin() + 1, w.end()));
    }
    return forms;
}

grounding_ref item_grounding(const item & it) {
    grounding_ref g;
    g.kind = grounding_ref::kind_t::item;
    for (const auto & genre : it.genres) {
        auto f = genre_forms(genre);
        if (!f.empty()) {
            g.genres.push_back(std::move(f));
        }
    }
    for (const auto & tag : it.tags) {
        word_seq w = words_of(tag);
        if (!w.empty()) {
            g.tags.push_back({std::move(w)});
        }
    }
    g.year = title_year(it.title);
    return g;
}

grounding_ref user_grounding(const dataset & d, std::span<const int32_t> history) {
    grounding_ref g;
    g.kind = grounding_ref::kind_t::user;
    std::set<std::string> genres_seen;
    std::set<word_seq> titles_seen;
    for (int32_t k : history) {
        const item & it = d.items[static_cast<size_t>(d.interactions[static_cast<size_t>(k)].item)];
        word_seq t = title_words(it.title);
        if (!t.empty() && titles_seen.insert(t).second) {
            g.titles.push_back(title_forms(it.title));
        }
        for (const auto & genre : it.genres) {
            if (genres_seen.insert(genre).second) {
                auto f = genre_forms(genre);
                if (!f.empty()) {
                    g.genres.push_back(std::move(f));
                }
            }
        }
    }
    return g;
}

double text_health::grounding() const {
    if (kind == grounding_ref::kind_t::item) {
        return genres_named;
    }
    if (kind == grounding_ref::kind_t::user) {
        return titles_named + history_genres_named > 0 ? 1.0 : 0.0;
    }
    return 0.0;
}

text_health measure_health(const std::string & prompt, const std::string & text, const grounding_ref & ref) {
    text_health h;
    const word_seq w = words_of(text);
    h.words = static_cast<int32_t>(w.size());
    const word_seq pw = words_of(prompt);
    const std::set<std::string> prompt_words(pw.begin(), pw.end());
    int64_t fresh = 0;
    for (const auto & x : w) {
        fresh += prompt_words.count(x) ? 0 : 1;
    }
    h.new_word_share = w.empty() ? 0.0 : static_cast<double>(fresh) / static_cast<double>(w.size());
    h.echo_only = h.new_word_share < kEchoNewWordShare;

    // Loops: counts of every 5-word window.
    if (w.size() >= static_cast<size_t>(kLoopWords)) {
        std::map<std::vector<std::string>, int32_t> counts;
        for (size_t i = 0; i + kLoopWords <= w.size(); ++i) {
            if (++counts[word_seq(w.begin() + static_cast<std::ptrdiff_t>(i),
                                  w.begin() + static_cast<std::ptrdiff_t>(i + kLoopWords))] >= kLoopCount) {
                h.looped = true;
                break;
            }
        }
    }
    // Longest repeat: the longest common run of w with itself shifted by d >= 1.
    for (size_t d = 1; d < w.size(); ++d) {
        int32_t run = 0;
        for (size_t i = 0; i + d < w.size(); ++i) {
            run = w[i] == w[i + d] ? run + 1 : 0;
            h.longest_repeat = std::max(h.longest_repeat, run);
        }
    }
    h.distinct_2 = w.size() >= 2 ? distinct_2({w}) : 0.0;

    h.kind = ref.kind;
    if (ref.kind == grounding_ref::kind_t::item) {
        h.genres = static_cast<int32_t>(ref.genres.size());
        h.genres_named = h.genres ? static_cast<double>(count_named(w, ref.genres)) / h.genres : 0.0;
        h.has_year = !ref.year.empty();
        h.year_named = h.has_year && std::find(w.begin(), w.end(), ref.year) != w.end();
        h.tags = static_cast<int32_t>(ref.tags.size());
        h.tags_named = h.tags ? static_cast<double>(count_named(w, ref.tags)) / h.tags : 0.0;
    } else if (ref.kind == grounding_ref::kind_t::user) {
        h.titles_named = count_named(w, ref.titles);
        h.history_genres_named = count_named(w, ref.genres);
    }
    return h;
}

json health_json(const text_health & h) {
    json j = {{"new_words", h.new_word_share}, {"echo_only", h.echo_only},     {"looped", h.looped},
              {"longest_repeat", h.longest_repeat}, {"words", h.words}, {"distinct_2", h.distinct_2}};
    if (h.kind == grounding_ref::kind_t::item) {
        if (h.genres > 0) {
            j["genres_named"] = h.genres_named;
            j["grounding"] = h.grounding();
        }
        if (h.has_year) {
            j["year_named"] = h.year_named;
        }
        if (h.tags > 0) {
            j["tags_named"] = h.tags_named;
        }
    } else if (h.kind == grounding_ref::kind_t::user) {
        j["titles_named"] = h.titles_named;
        j["history_genres_named"] = h.history_genres_named;
        j["grounded"] = h.grounding() > 0;
        j["grounding"] = h.grounding();
    }
    return j;
}

void health_totals::add(const json & h) {
    if (!h.is_object() || !h.contains("echo_only")) {
        return;
    }
    ++n_;
    echo_ += h.value("echo_only", false) ? 1 : 0;
    looped_ += h.value("looped", false) ? 1 : 0;
    new_words_ += h.value("new_words", 0.0);
    words_ += h.value("words", 0.0);
    repeat_ += h.value("longest_repeat", 0.0);
    distinct_ += h.value("distinct_2", 0.0);
    if (h.contains("grounding")) {
        ++grounded_n_;
        grounding_ += h["grounding"].get<double>();
    }
}

json health_totals::to_json() const {
    if (n_ == 0) {
        return json::object();
    }
    const double n = static_cast<double>(n_);
    json j = {{"records", n_},
              {"echo_only", static_cast<double>(echo_) / n},
              {"looped", static_cast<double>(looped_) / n},
              {"new_words", new_words_ / n},
              {"words", words_ / n},
              {"longest_repeat", repeat_ / n},
              {"distinct_2", distinct_ / n}};
    if (grounded_n_ > 0) {
        j["grounding"] = grounding_ / static_cast<double>(grounded_n_);
    }
    return j;
}

}  // namespace dare
