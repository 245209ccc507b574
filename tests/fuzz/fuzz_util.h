// Shared by the libFuzzer targets: each input becomes one or more files in a
// scratch folder made once per process, then a reader of outside input reads
// them. A reader may throw dare::error (a clear message for bad input); any
// other exception, crash, leak or sanitizer report is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace dare_fuzz {

// The scratch folder, emptied for every input.
inline const std::string & scratch() {
    static const std::string dir = [] {
        std::string tmpl = (std::filesystem::temp_directory_path() / "dare-fuzz-XXXXXX").string();
        if (!mkdtemp(tmpl.data())) {
            std::abort();
        }
        return tmpl;
    }();
    return dir;
}

inline void clear_scratch() {
    for (const auto & e : std::filesystem::directory_iterator(scratch())) {
        std::filesystem::remove_all(e.path());
    }
}

inline std::string write_scratch(const std::string & name, std::string_view content) {
    const std::string path = scratch() + "/" + name;
    ::unlink(path.c_str());  // a new file: truncating one in place is far slower on some filesystems
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(content.data(), static_cast<std::streamsize>(content.size()));
    return path;
}

// The input split at each '\x1e' (ASCII record separator) into at most
// `parts` pieces; the last piece keeps any further separators.
inline std::vector<std::string_view> split_input(const uint8_t * data, size_t size, size_t parts) {
    std::string_view s(reinterpret_cast<const char *>(data), size);
    std::vector<std::string_view> out;
    while (out.size() + 1 < parts) {
        const size_t at = s.find('\x1e');
        if (at == std::string_view::npos) {
            break;
        }
        out.push_back(s.substr(0, at));
        s.remove_prefix(at + 1);
    }
    out.push_back(s);
    return out;
}

}  // namespace dare_fuzz
