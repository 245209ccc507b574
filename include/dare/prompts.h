// Knowledge prompts (the KAR recipe) for items and users, with named
// placeholders so a team can swap the wording without touching code.
// Placeholders: {title} {genres} for items; {history} {profile} for users.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "dare/dataset.h"

namespace dare {

struct prompt_templates {
    std::string item;
    std::string user;
    static prompt_templates kar_movies();
    // Reads {"item": "...", "user": "..."} (either key may be left out to keep
    // the KAR default) and checks each template's placeholders; throws
    // dare::error naming the file.
    static prompt_templates load(const std::string & path);
};

// Replaces every {name} with vars[name]; throws dare::error on an unknown
// placeholder or an unbalanced brace, so a typo in a template cannot pass.
std::string render_template(const std::string & tmpl, const std::map<std::string, std::string> & vars);

// A template's text before its first placeholder: what every prompt made
// from it starts with (model::add_prompt_head).
std::string template_start(const std::string & tmpl);
std::string item_prompt(const prompt_templates & t, const item & it);

// The user's history is their ratings in time order, the most recent
// `history_max` kept.
std::string user_prompt(const prompt_templates & t, const dataset & d, int32_t user_index, int history_max);

// Same, from a precomputed history: interaction indices in time order (a
// slice of user_histories(d)[user_index], e.g. an earlier part of it).
std::string user_prompt(const prompt_templates & t, const dataset & d, int32_t user_index,
                        std::span<const int32_t> history, int history_max);

}  // namespace dare
