// Run reports: see dare/report.h.
#include "dare/report.h"

#include <algorithm>
#include <cstdio>

#include "dare/pipeline.h"

namespace dare {

namespace {

struct row {
    std::string label;  // kind/group
    std::string phase;  // warmup | main | all
    int64_t records = 0;
    double tau = 0, tps = 0;
    // Text health (health.h): shares of echo-only and looped records, mean
    // new-word share, mean words, mean grounding (-1: not measured), and
    // records the guard regenerated.
    bool has_health = false;
    double echo = 0, looped = 0, new_words = 0, words = 0, grounding = -1, unhealthy = 0;
    int64_t regenerated = 0;
};

row row_of(const std::string & label, const std::string & phase, const json & a) {
    row r{label, phase, a["records"].get<int64_t>(), a["tau"].get<double>(), a["tokens_per_second"].get<double>()};
    r.regenerated = a.value("regenerated", int64_t{0});
    if (a.contains("health") && a["health"].contains("echo_only")) {
        const auto & h = a["health"];
        r.has_health = true;
        r.echo = h["echo_only"].get<double>();
        r.looped = h["looped"].get<double>();
        r.new_words = h["new_words"].get<double>();
        r.words = h["words"].get<double>();
        r.grounding = h.value("grounding", -1.0);
        r.unhealthy = r.echo + r.looped;
    }
    return r;
}

std::vector<row> rows_of(const json & s) {
    std::vector<row> rows;
    for (const auto & g : s.at("groups")) {
        const std::string label = g["kind"].get<std::string>() + "/" + g["group"].get<std::string>();
        if (g.contains("phases")) {
            for (const char * phase : {"warmup", "main"}) {  // in the order they run
                if (g["phases"].contains(phase)) {
                    rows.push_back(row_of(label, phase, g["phases"][phase]));
                }
            }
        }
        rows.push_back(row_of(label, "all", g));
    }
    if (s.contains("kinds")) {
        for (const auto & [kind, a] : s["kinds"].items()) {
            rows.push_back(row_of(kind + "s", "all", a));
        }
    }
    rows.push_back(row_of("all", "all", s.at("totals")));
    return rows;
}

std::string percent(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f%%", 100 * x);
    return buf;
}

// The health cells of a row, each after `sep` ("-" where not measured).
std::string health_cells(const row & r, const char * sep) {
    if (!r.has_health) {
        std::string o;
        for (int i = 0; i < 6; ++i) {
            o += sep + std::string("-");
        }
        return o;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", r.words);
    return sep + percent(r.echo) + sep + percent(r.looped) + sep + percent(r.new_words) + sep + buf + sep +
           (r.grounding >= 0 ? percent(r.grounding) : std::string("-")) + sep + std::to_string(r.regenerated);
}

std::string html_escape(const std::string & s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '&': o += "&amp;"; break;
            case '"': o += "&quot;"; break;
            default: o.push_back(c);
        }
    }
    return o;
}

// Horizontal bars, one per row, for one measure.
std::string svg_bars(const std::vector<row> & rows, const char * title, double row::*value) {
    const int bar_h = 18, gap = 6, left = 230, width = 420, top = 28;
    double maxv = 0;
    for (const auto & r : rows) {
        maxv = std::max(maxv, r.*value);
    }
    maxv = maxv > 0 ? maxv : 1;
    const int h = top + static_cast<int>(rows.size()) * (bar_h + gap) + 10;
    std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(left + width + 80) +
                    "\" height=\"" + std::to_string(h) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
    o += "<text x=\"4\" y=\"16\" font-weight=\"bold\">" + html_escape(title) + "</text>\n";
    char buf[512];
    for (size_t i = 0; i < rows.size(); ++i) {
        const auto & r = rows[i];
        const int y = top + static_cast<int>(i) * (bar_h + gap);
        const double v = std::max(0.0, r.*value);  // negative: not measured
        const int w = static_cast<int>(width * v / maxv);
        const char * color = r.phase == "warmup" ? "#f2a541" : r.phase == "main" ? "#3a86c8" : "#555555";
        std::snprintf(buf, sizeof buf,
                      "<text x=\"4\" y=\"%d\">%s (%s)</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                      "fill=\"%s\"/><text x=\"%d\" y=\"%d\">%.2f</text>\n",
                      y + 13, html_escape(r.label).c_str(), r.phase.c_str(), left, y, std::max(w, 1), bar_h, color,
                      left + w + 4, y + 13, v);
        o += buf;
    }
    return o + "</svg>\n";
}

}  // namespace

std::string report_table(const json & s) {
    std::string o =
        "| group | phase | records | tau | tokens/s | echo-only | looped | new words | words | grounding | regenerated |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n";
    char buf[512];
    for (const auto & r : rows_of(s)) {
        std::snprintf(buf, sizeof buf, "| %s | %s | %lld | %.2f | %.1f", r.label.c_str(), r.phase.c_str(),
                      static_cast<long long>(r.records), r.tau, r.tps);
        o += buf + health_cells(r, " | ") + " |\n";
    }
    if (s.contains("dataset") && s["dataset"].is_object()) {
        const auto & d = s["dataset"];
        std::snprintf(buf, sizeof buf, "dataset %s (%s): %lld malformed rows skipped\n",
                      d.value("name", "?").c_str(), d.value("format", "?").c_str(),
                      static_cast<long long>(d.value("malformed_rows", 0)));
        o += buf;
    }
    if (s.value("errors", 0) > 0) {
        std::snprintf(buf, sizeof buf, "%lld records could not be generated (errors.jsonl)\n",
                      static_cast<long long>(s.value("errors", 0)));
        o += buf;
    }
    return o;
}

std::string report_html(const json & s) {
    const auto rows = rows_of(s);
    std::string o = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>dare run report</title>\n"
                    "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
                    "</style></head><body>\n<h1>dare run report</h1>\n";
    if (s.contains("settings") && s["settings"].is_object()) {
        const auto & st = s["settings"];
        o += "<p>model " + html_escape(st.value("model", "")) + ", mode " + html_escape(st.value("mode", "")) +
             ", verify " + html_escape(st.value("verify", "")) + ", grouping " + html_escape(st.value("grouping", "")) +
             ", index " + html_escape(st.value("index", "")) + "</p>\n";
    }
    o += "<table><tr><th>group</th><th>phase</th><th>records</th><th>tau</th><th>tokens/s</th><th>echo-only</th>"
         "<th>looped</th><th>new words</th><th>words</th><th>grounding</th><th>regenerated</th></tr>\n";
    char buf[512];
    for (const auto & r : rows) {
        std::snprintf(buf, sizeof buf, "<tr><td>%s</td><td>%s</td><td>%lld</td><td>%.2f</td><td>%.1f",
                      html_escape(r.label).c_str(), r.phase.c_str(), static_cast<long long>(r.records), r.tau, r.tps);
        o += buf + health_cells(r, "</td><td>") + "</td></tr>\n";
    }
    o += "</table>\n<p>Health (docs/quality.md): echo-only = under 15% of the text's words are new against the "
         "prompt; looped = a 5-word sequence occurs 3+ times; grounding = items: share of their genres named, "
         "users: share naming a title or genre of their history; regenerated = relaxed texts the health guard "
         "generated again strictly.</p>\n<p>Bars: orange = warm-up phase, blue = main phase, grey = whole group.</p>\n";
    o += svg_bars(rows, "tau (tokens per forward pass)", &row::tau);
    o += svg_bars(rows, "tokens per second", &row::tps);
    o += svg_bars(rows, "unhealthy share (echo-only + looped)", &row::unhealthy);
    o += svg_bars(rows, "grounding", &row::grounding);
    return o + "</body></html>\n";
}

std::string report_run(const std::string & rundir) {
    const json s = summarize_run(rundir);
    write_file_atomically(rundir + "/report.html", report_html(s));
    return report_table(s);
}

}  // namespace dare
