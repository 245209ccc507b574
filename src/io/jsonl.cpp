// JSONL prompt reader and the resumable record log.
#include "dare/jsonl.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dare/error.h"

namespace dare {

namespace {

// Writes all of `data` to `fd`, retrying short writes; false with errno set
// on a failure (ENOSPC, EIO, EFBIG past a file-size limit, ...).
bool write_all(int fd, const char * data, size_t size) {
    size_t off = 0;
    while (off < size) {
        const ssize_t n = ::write(fd, data + off, size - off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        off += static_cast<size_t>(n);
    }
    return true;
}

}  // namespace

error write_failure(const std::string & path, int err) {
    return error(path + ": write failed (" + std::strerror(err) + ")" +
                 (err == ENOSPC || err == EDQUOT ? "; free some space and rerun the same command to resume" : ""));
}

std::string id_text(const json & id) { return id.is_string() ? id.get<std::string>() : id.dump(); }

void for_each_jsonl_object(const std::string & path, const char * what,
                           const std::function<void(const json & obj, long line)> & fn) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw error(path + ": cannot open " + what + " (" + std::strerror(errno) + ")");
    }
    std::string line;
    long lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        json j;
        try {
            j = json::parse(line);
        } catch (const json::exception & e) {  // syntax, or a number beyond double (out_of_range)
            throw error_at(path, lineno, std::string("invalid JSON: ") + e.what());
        }
        if (!j.is_object()) {
            throw error_at(path, lineno, "expected a JSON object");
        }
        fn(j, lineno);
    }
    if (in.bad()) {
        throw error(path + ": read error");
    }
}

std::string read_file_bytes(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw error(path + ": cannot read (" + std::strerror(errno) + ")");
    }
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
        throw error(path + ": cannot read");
    }
    return s;
}

void write_file_atomically(const std::string & path, const std::string & content) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::path(path).has_parent_path()) {
        fs::create_directories(fs::path(path).parent_path(), ec);
    }
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        throw error(path + ": cannot write (" + std::strerror(errno) + ")");
    }
    const bool ok = write_all(fd, content.data(), content.size());
    const int err = errno;
    if (::close(fd) != 0 || !ok) {
        const int e = ok ? errno : err;
        fs::remove(tmp, ec);  // the old file, if any, stays as it was
        throw write_failure(path, e);
    }
    fs::rename(tmp, path, ec);
    if (ec) {
        throw error(path + ": cannot rename into place: " + ec.message());
    }
}

std::vector<prompt_record> read_prompts_jsonl(const std::string & path) {
    std::vector<prompt_record> out;
    std::set<std::string> seen;
    for_each_jsonl_object(path, "prompts file", [&](const json & j, long lineno) {
        if (!j.contains("id") || !(j["id"].is_string() || j["id"].is_number_integer())) {
            throw error_at(path, lineno, "missing \"id\" (a string or an integer)");
        }
        if (!j.contains("prompt") || !j["prompt"].is_string()) {
            throw error_at(path, lineno, "missing \"prompt\" (a string)");
        }
        prompt_record r;
        r.id_json = j["id"];
        r.id = id_text(r.id_json);
        r.prompt = j["prompt"].get<std::string>();
        r.line = lineno;
        if (r.prompt.empty()) {
            throw error_at(path, lineno, "empty \"prompt\"");
        }
        if (!seen.insert(r.id).second) {
            throw error_at(path, lineno, "duplicate id " + r.id_json.dump());
        }
        out.push_back(std::move(r));
    });
    if (out.empty()) {
        throw error(path + ": no prompts in file");
    }
    return out;
}

std::string record_key(const json & record) {
    const std::string id = id_text(record.at("id"));
    if (record.contains("kind") && record["kind"].is_string()) {
        return record["kind"].get<std::string>() + ":" + id;
    }
    return id;
}

output_lock::output_lock(const std::string & path) {
    namespace fs = std::filesystem;
    const std::string lock = path + ".lock";
    std::error_code ec;
    if (fs::path(lock).has_parent_path()) {
        fs::create_directories(fs::path(lock).parent_path(), ec);
    }
    fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        throw error(lock + ": cannot open the output's lock file (" + std::strerror(errno) + ")");
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int why = errno;
        char buf[32] = {};
        const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        ::close(fd_);
        fd_ = -1;
        if (why == EWOULDBLOCK) {
            const std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("?");
            throw error(path + ": another dare process (pid " + pid.substr(0, pid.find('\n')) +
                        ") is writing this output; wait for it to finish, or write to another one");
        }
        throw error(lock + ": cannot lock (" + std::strerror(why) + ")");
    }
    // The pid only informs a second process's message ("?" if it is missing).
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) == 0) {
        [[maybe_unused]] const ssize_t written = ::pwrite(fd_, pid.data(), pid.size(), 0);
    }
}

output_lock::~output_lock() {
    if (fd_ >= 0) {
        ::close(fd_);  // releases the lock
    }
}

record_log::record_log(const std::string & path, bool fresh) : path_(path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::path(path).has_parent_path()) {
        fs::create_directories(fs::path(path).parent_path(), ec);
    }
    if (!fresh && fs::exists(path, ec)) {
        std::ifstream in(path, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        const std::string content = ss.str();
        size_t keep = 0;  // bytes of complete, valid lines
        size_t pos = 0;
        long lineno = 0;
        while (pos < content.size()) {
            ++lineno;
            size_t nl = content.find('\n', pos);
            const bool complete = nl != std::string::npos;
            const std::string line = content.substr(pos, complete ? nl - pos : std::string::npos);
            const size_t next = complete ? nl + 1 : content.size();
            json j;
            bool ok = true;
            try {
                j = json::parse(line);
            } catch (const json::exception &) {
                ok = false;
            }
            ok = ok && j.is_object() && j.contains("id");
            if (!ok || !complete) {
                if (next < content.size()) {
                    throw error_at(path, lineno, "malformed record in existing output (not the last line, so not a "
                                                 "torn write); fix or remove the file");
                }
                repaired_ = true;  // torn tail from an interrupted write: drop it
                break;
            }
            done_.insert(record_key(j));
            existing_.push_back(std::move(j));
            keep = next;
            pos = next;
        }
        if (repaired_) {
            fs::resize_file(path, keep, ec);
            if (ec) {
                throw error(path + ": cannot repair torn last line: " + ec.message());
            }
        }
    }
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | (fresh ? O_TRUNC : 0), 0644);
    if (fd_ < 0) {
        throw error(path + ": cannot open for writing (" + std::strerror(errno) + ")");
    }
}

record_log::~record_log() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void append_whole(int fd, const std::string & path, const void * data, size_t size) {
    const off_t start = ::lseek(fd, 0, SEEK_END);
    if (!write_all(fd, static_cast<const char *>(data), size)) {
        const int err = errno;
        // Cut the part that made it, so the file holds whole records only
        // (a rerun would also repair it, as after a kill).
        if (start >= 0) {
            const int rc = ::ftruncate(fd, start);  // if this fails too, the reopening repairs the torn end
            (void) rc;
        }
        throw write_failure(path, err);
    }
}

void record_log::append(const json & record) {
    const std::string line = record.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    append_whole(fd_, path_, line.data(), line.size());
    done_.insert(record_key(record));
}

}  // namespace dare
