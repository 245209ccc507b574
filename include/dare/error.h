// dare's error type: every failure the user can cause (bad file, bad flag,
// bad model) is thrown as dare::error with a message that names the file and,
// where it applies, the line; the CLI prints it and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace dare {

class error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// "FILE:LINE: what" (LINE omitted when 0), the form compilers use, so editors
// and terminals can jump to the place.
inline error error_at(const std::string & file, long line, const std::string & what) {
    return error(line > 0 ? file + ":" + std::to_string(line) + ": " + what : file + ": " + what);
}

}  // namespace dare
