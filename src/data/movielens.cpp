// MovieLens loaders in their three shapes (see loader.h): ml-latest/ml-25m
// CSV, ml-1m/ml-10m "::" .dat files, ml-100k tab/pipe files in Latin-1.
#include <algorithm>
#include <filesystem>

#include "loader.h"

namespace dare {

bool split_csv_line(const std::string & line, std::vector<std::string> & fields) {
    fields.clear();
    std::string cur;
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"') {
                if (i + 1 < line.size() && line[i + 1] == '"') {
                    cur.push_back('"');
                    ++i;
                } else {
                    quoted = false;
                }
            } else {
                cur.push_back(c);
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            fields.push_back(std::move(cur));
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    fields.push_back(std::move(cur));
    return !quoted;
}

namespace detail {

namespace {

// Item rows shared by every shape: id must be an integer, title non-empty,
// id unique.
void add_movie(dataset & d, id_tables & ids, row_reporter & report, const line_reader & r, const std::string & id,
               const std::string & title, std::vector<std::string> genres) {
    long n = 0;
    if (!parse_number(id, n)) {
        report.bad(r, "movie id is not an integer: '" + id + "'");
    } else if (title.empty()) {
        report.bad(r, "empty title");
    } else if (!ids.add_item(d, {id, to_utf8(title), std::move(genres)})) {
        report.bad(r, "duplicate movie id " + id);
    }
}

// A user-applied tag of a known movie, kept once per movie.
void add_tag(dataset & d, const id_tables & ids, row_reporter & report, const line_reader & r,
             const std::string & item_id, const std::string & tag) {
    const auto it = ids.items.find(item_id);
    if (it == ids.items.end()) {
        report.bad(r, "tag for unknown movie id " + item_id);
        return;
    }
    const std::string t = to_utf8(tag);
    auto & tags = d.items[static_cast<size_t>(it->second)].tags;
    if (!t.empty() && std::find(tags.begin(), tags.end(), t) == tags.end()) {
        tags.push_back(t);
    }
}

void expect_header(line_reader & r, const std::string & header) {
    std::string line;
    if (!r.next(line) || line.rfind(header, 0) != 0) {
        throw error_at(r.path(), 1, "expected header " + header);
    }
}

// MovieLens 1M codes (its README): age buckets and occupations.
std::string ml1m_age(const std::string & code) {
    static const std::unordered_map<std::string, std::string> m = {
        {"1", "under 18"}, {"18", "18-24"}, {"25", "25-34"}, {"35", "35-44"},
        {"45", "45-49"},   {"50", "50-55"}, {"56", "56 or over"}};
    auto it = m.find(code);
    return it == m.end() ? std::string() : it->second;
}

std::string ml1m_occupation(const std::string & code) {
    static const char * names[] = {"other",
                                   "academic/educator",
                                   "artist",
                                   "clerical/admin",
                                   "college/grad student",
                                   "customer service",
                                   "doctor/health care",
                                   "executive/managerial",
                                   "farmer",
                                   "homemaker",
                                   "K-12 student",
                                   "lawyer",
                                   "programmer",
                                   "retired",
                                   "sales/marketing",
                                   "scientist",
                                   "self-employed",
                                   "technician/engineer",
                                   "tradesman/craftsman",
                                   "unemployed",
                                   "writer"};
    int n = -1;
    return parse_number(code, n) && n >= 0 && n < 21 ? names[n] : std::string();
}

std::string gender_word(const std::string & g) {
    return g == "M" ? "male" : g == "F" ? "female" : std::string();
}

}  // namespace

void load_ml_latest(const std::string & dir, dataset & d, const load_options & opts) {
    row_reporter report(d, opts);
    id_tables ids;
    std::vector<std::string> f;
    std::string line;
    line_reader movies(dir + "/movies.csv");
    expect_header(movies, "movieId,title,genres");
    while (movies.next(line)) {
        if (line.empty()) {
            continue;
        }
        if (!split_csv_line(line, f)) {
            report.bad(movies, "unterminated quote");
        } else if (f.size() != 3) {
            report.bad(movies, "expected 3 fields, found " + std::to_string(f.size()));
        } else {
            add_movie(d, ids, report, movies, f[0], f[1], split_genres(f[2], '|'));
        }
    }
    line_reader ratings(dir + "/ratings.csv");
    expect_header(ratings, "userId,movieId,rating,timestamp");
    while (ratings.next(line)) {
        if (line.empty()) {
            continue;
        }
        if (!split_csv_line(line, f) || f.size() != 4) {
            report.bad(ratings, "expected 4 fields userId,movieId,rating,timestamp");
            continue;
        }
        add_interaction(d, ids, report, ratings, f[0], f[1], f[2], f[3]);
    }
    if (std::filesystem::exists(dir + "/tags.csv")) {
        line_reader tags(dir + "/tags.csv");
        expect_header(tags, "userId,movieId,tag,timestamp");
        while (tags.next(line)) {
            if (line.empty()) {
                continue;
            }
            if (!split_csv_line(line, f) || f.size() != 4) {
                report.bad(tags, "expected 4 fields userId,movieId,tag,timestamp");
                continue;
            }
            add_tag(d, ids, report, tags, f[1], f[2]);
        }
    }
}

void load_ml_dat(const std::string & dir, dataset & d, const load_options & opts) {
    row_reporter report(d, opts);
    id_tables ids;
    std::vector<std::string> f;
    std::string line;
    line_reader movies(dir + "/movies.dat");
    while (movies.next(line)) {
        if (line.empty()) {
            continue;
        }
        split_on(line, "::", f);
        if (f.size() != 3) {
            report.bad(movies, "expected MovieID::Title::Genres, found " + std::to_string(f.size()) + " fields");
            continue;
        }
        add_movie(d, ids, report, movies, f[0], f[1], split_genres(f[2], '|'));
    }
    if (std::filesystem::exists(dir + "/users.dat")) {
        line_reader users(dir + "/users.dat");
        while (users.next(line)) {
            if (line.empty()) {
                continue;
            }
            split_on(line, "::", f);
            if (f.size() != 5) {
                report.bad(users, "expected UserID::Gender::Age::Occupation::Zip-code");
            } else if (!ids.add_user(d, {f[0], gender_word(f[1]), ml1m_age(f[2]), ml1m_occupation(f[3])})) {
                report.bad(users, "duplicate user id " + f[0]);
            }
        }
    }
    line_reader ratings(dir + "/ratings.dat");
    while (ratings.next(line)) {
        if (line.empty()) {
            continue;
        }
        split_on(line, "::", f);
        if (f.size() != 4) {
            report.bad(ratings, "expected UserID::MovieID::Rating::Timestamp");
            continue;
        }
        add_interaction(d, ids, report, ratings, f[0], f[1], f[2], f[3]);
    }
}

void load_ml_100k(const std::string & dir, dataset & d, const load_options & opts) {
    row_reporter report(d, opts);
    id_tables ids;
    std::vector<std::string> f;
    std::string line;
    // Genre names by flag position, from u.genre when present.
    std::vector<std::string> genre_names = {"unknown", "Action", "Adventure", "Animation", "Children's",
                                            "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
                                            "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
                                            "Sci-Fi", "Thriller", "War", "Western"};
    if (std::filesystem::exists(dir + "/u.genre")) {
        line_reader g(dir + "/u.genre");
        while (g.next(line)) {
            if (line.empty()) {
                continue;
            }
            split_on(line, "|", f);
            size_t idx = 0;
            if (f.size() != 2 || !parse_number(f[1], idx) || idx > 64) {
                report.bad(g, "expected name|index");
                continue;
            }
            genre_names.resize(std::max(genre_names.size(), idx + 1));
            genre_names[idx] = f[0];
        }
    }
    line_reader movies(dir + "/u.item");
    while (movies.next(line)) {
        if (line.empty()) {
            continue;
        }
        split_on(line, "|", f);
        if (f.size() < 5 + genre_names.size()) {
            report.bad(movies, "expected id|title|release|video release|url|" + std::to_string(genre_names.size()) +
                                   " genre flags, found " + std::to_string(f.size()) + " fields");
            continue;
        }
        std::vector<std::string> genres;
        for (size_t g = 0; g < genre_names.size(); ++g) {
            if (f[5 + g] == "1" && genre_names[g] != "unknown") {
                genres.push_back(genre_names[g]);
            }
        }
        add_movie(d, ids, report, movies, f[0], f[1], std::move(genres));
    }
    if (std::filesystem::exists(dir + "/u.user")) {
        line_reader users(dir + "/u.user");
        while (users.next(line)) {
            if (line.empty()) {
                continue;
            }
            split_on(line, "|", f);
            if (f.size() != 5) {
                report.bad(users, "expected id|age|gender|occupation|zip");
            } else if (!ids.add_user(d, {f[0], gender_word(f[2]), f[1], f[3]})) {
                report.bad(users, "duplicate user id " + f[0]);
            }
        }
    }
    line_reader ratings(dir + "/u.data");
    while (ratings.next(line)) {
        if (line.empty()) {
            continue;
        }
        split_on(line, "\t", f);
        if (f.size() != 4) {
            report.bad(ratings, "expected user id, item id, rating, timestamp separated by tabs");
            continue;
        }
        add_interaction(d, ids, report, ratings, f[0], f[1], f[2], f[3]);
    }
}

}  // namespace detail
}  // namespace dare
