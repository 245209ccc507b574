// KAR item-knowledge and user-preference prompts (wording from the KAR recipe
// as summarised in docs; see ../shared/docs/DARE.md of the project).
#include <algorithm>
#include <cstdio>
#include <fstream>

#include "dare/error.h"
#include "dare/jsonl.h"
#include "dare/prompts.h"

namespace dare {

prompt_templates prompt_templates::kar_movies() {
    prompt_templates t;
    t.item =
        "Introduce movie {title} and describe its attributes (including but not limited to genre, "
        "director/cast, country, character, plot/theme, mood/tone, critical acclaim/award, production "
        "quality, and soundtrack).";
    t.user =
        "Given {profile} movie viewing history over time: {history}. Analyze the user's preferences on "
        "movies (consider factors like genre, director/actors, time period/country, character, "
        "plot/theme, mood/tone, critical acclaim/award, production quality, and soundtrack). Provide "
        "clear explanations based on relevant details from the user's movie viewing history and other "
        "pertinent factors.";
    return t;
}

std::string render_template(const std::string & tmpl, const std::map<std::string, std::string> & vars) {
    std::string out;
    out.reserve(tmpl.size() + 256);
    for (size_t i = 0; i < tmpl.size(); ++i) {
        const char c = tmpl[i];
        if (c == '}') {
            throw error("prompt template: unmatched '}' at offset " + std::to_string(i));
        }
        if (c != '{') {
            out.push_back(c);
            continue;
        }
        const size_t close = tmpl.find('}', i);
        if (close == std::string::npos) {
            throw error("prompt template: unmatched '{' at offset " + std::to_string(i));
        }
        const std::string name = tmpl.substr(i + 1, close - i - 1);
        auto it = vars.find(name);
        if (it == vars.end()) {
            throw error("prompt template: unknown placeholder {" + name + "}");
        }
        out += it->second;
        i = close;
    }
    return out;
}

std::string template_start(const std::string & tmpl) { return tmpl.substr(0, tmpl.find('{')); }

namespace {
std::string join(const std::vector<std::string> & v, const char * sep) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
        out += (i ? sep : "") + v[i];
    }
    return out;
}

std::string format_rating(float r) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(r));
    return buf;
}
}  // namespace

std::string item_prompt(const prompt_templates & t, const item & it) {
    return render_template(t.item, {{"title", it.title}, {"genres", join(it.genres, ", ")}});
}

std::string user_prompt(const prompt_templates & t, const dataset & d, int32_t user_index, int history_max) {
    std::vector<int32_t> hist;
    for (size_t i = 0; i < d.interactions.size(); ++i) {
        if (d.interactions[i].user == user_index) {
            hist.push_back(static_cast<int32_t>(i));
        }
    }
    std::stable_sort(hist.begin(), hist.end(), [&](int32_t a, int32_t b) {
        return d.interactions[a].timestamp < d.interactions[b].timestamp;
    });
    return user_prompt(t, d, user_index, hist, history_max);
}

std::string user_prompt(const prompt_templates & t, const dataset & d, int32_t user_index,
                        std::span<const int32_t> history, int history_max) {
    if (history_max > 0 && history.size() > static_cast<size_t>(history_max)) {
        history = history.subspan(history.size() - static_cast<size_t>(history_max));
    }
    std::vector<std::string> parts;
    for (int32_t i : history) {
        const auto & x = d.interactions[i];
        parts.push_back(d.items[x.item].title + ", " + format_rating(x.rating) + " stars");
    }
    const user & u = d.users[user_index];
    std::string profile = "a user's";
    if (!u.gender.empty() || !u.age.empty() || !u.occupation.empty()) {
        profile = "a " + (u.gender.empty() ? std::string() : u.gender + " ") + "user" +
                  (u.age.empty() ? std::string() : " who is aged " + u.age) +
                  (u.occupation.empty() ? std::string() : " and " + u.occupation) + ", the user's";
    }
    return render_template(t.user, {{"history", join(parts, "; ")}, {"profile", profile}});
}

prompt_templates prompt_templates::load(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw error(path + ": cannot open prompt templates");
    }
    const json j = json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        throw error(path + ": expected a JSON object {\"item\": \"...\", \"user\": \"...\"}");
    }
    prompt_templates t = kar_movies();
    for (const auto & [key, value] : j.items()) {
        if (key != "item" && key != "user") {
            throw error(path + ": unknown key \"" + key + "\" (expected item, user)");
        }
        if (!value.is_string() || value.get<std::string>().empty()) {
            throw error(path + ": \"" + key + "\" must be a non-empty string");
        }
        (key == "item" ? t.item : t.user) = value.get<std::string>();
    }
    try {
        render_template(t.item, {{"title", ""}, {"genres", ""}});
    } catch (const error & e) {
        throw error(path + ": item template: " + e.what() + " (item placeholders: {title} {genres})");
    }
    try {
        render_template(t.user, {{"history", ""}, {"profile", ""}});
    } catch (const error & e) {
        throw error(path + ": user template: " + e.what() + " (user placeholders: {history} {profile})");
    }
    return t;
}

}  // namespace dare
