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
    int64_t records;
    double tau, tps;
};

std::vector<row> rows_of(const json & s) {
    std::vector<row> rows;
    for (const auto & g : s.at("groups")) {
        const std::string label = g["kind"].get<std::string>() + "/" + g["group"].get<std::string>();
        if (g.contains("phases")) {
            for (const char * phase : {"warmup", "main"}) {  // in the order they run
                if (g["phases"].contains(phase)) {
                    const auto & p = g["phases"][phase];
                    rows.push_back({label, phase, p["records"].get<int64_t>(), p["tau"].get<double>(),
                                    p["tokens_per_second"].get<double>()});
                }
            }
        }
        rows.push_back({label, "all", g["records"].get<int64_t>(), g["tau"].get<double>(),
                        g["tokens_per_second"].get<double>()});
    }
    return rows;
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
        const int w = static_cast<int>(width * (r.*value) / maxv);
        const char * color = r.phase == "warmup" ? "#f2a541" : r.phase == "main" ? "#3a86c8" : "#555555";
        std::snprintf(buf, sizeof buf,
                      "<text x=\"4\" y=\"%d\">%s (%s)</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                      "fill=\"%s\"/><text x=\"%d\" y=\"%d\">%.2f</text>\n",
                      y + 13, html_escape(r.label).c_str(), r.phase.c_str(), left, y, std::max(w, 1), bar_h, color,
                      left + w + 4, y + 13, r.*value);
        o += buf;
    }
    return o + "</svg>\n";
}

}  // namespace

std::string report_table(const json & s) {
    std::string o = "| group | phase | records | tau | tokens/s |\n|---|---|---|---|---|\n";
    char buf[512];
    for (const auto & r : rows_of(s)) {
        std::snprintf(buf, sizeof buf, "| %s | %s | %lld | %.2f | %.1f |\n", r.label.c_str(), r.phase.c_str(),
                      static_cast<long long>(r.records), r.tau, r.tps);
        o += buf;
    }
    const auto & t = s.at("totals");
    std::snprintf(buf, sizeof buf, "| all | all | %lld | %.2f | %.1f |\n", static_cast<long long>(t["records"].get<int64_t>()),
                  t["tau"].get<double>(), t["tokens_per_second"].get<double>());
    o += buf;
    if (s.contains("dataset") && s["dataset"].is_object()) {
        const auto & d = s["dataset"];
        std::snprintf(buf, sizeof buf, "dataset %s (%s): %lld malformed rows skipped\n",
                      d.value("name", "?").c_str(), d.value("format", "?").c_str(),
                      static_cast<long long>(d.value("malformed_rows", 0)));
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
    o += "<table><tr><th>group</th><th>phase</th><th>records</th><th>tau</th><th>tokens/s</th></tr>\n";
    char buf[512];
    for (const auto & r : rows) {
        std::snprintf(buf, sizeof buf, "<tr><td>%s</td><td>%s</td><td>%lld</td><td>%.2f</td><td>%.1f</td></tr>\n",
                      html_escape(r.label).c_str(), r.phase.c_str(), static_cast<long long>(r.records), r.tau, r.tps);
        o += buf;
    }
    o += "</table>\n<p>Bars: orange = warm-up phase, blue = main phase, grey = whole group.</p>\n";
    o += svg_bars(rows, "tau (tokens per forward pass)", &row::tau);
    o += svg_bars(rows, "tokens per second", &row::tps);
    return o + "</body></html>\n";
}

std::string report_run(const std::string & rundir) {
    const json s = summarize_run(rundir);
    write_file_atomically(rundir + "/report.html", report_html(s));
    return report_table(s);
}

}  // namespace dare
