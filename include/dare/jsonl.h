// JSON-lines input and resumable output.
// Input readers validate the whole file first and report the first bad line
// as FILE:LINE. The record log appends one flushed line per record and, on
// reopening, repairs a torn last line (from a kill) and reports which ids are
// already done, so a rerun neither loses nor duplicates records.
#pragma once

#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dare/error.h"

namespace dare {

using json = nlohmann::json;

struct prompt_record {
    std::string id;  // the id as text (numbers are kept as their JSON text)
    json id_json;    // the id exactly as given, echoed into outputs
    std::string prompt;
    long line = 0;   // 1-based line in the source file
};

// Calls fn(object, line) for every non-blank line of a JSONL file. Throws
// dare::error "FILE:LINE: ..." on a line that is not a JSON object, and
// "FILE: ..." if the file cannot be read. `what` names the file's role in
// messages ("prompts file", "corpus file").
void for_each_jsonl_object(const std::string & path, const char * what,
                           const std::function<void(const json & obj, long line)> & fn);

// The error for a failed write of PATH with errno `err` (ENOSPC, EIO, EFBIG
// past a file-size limit, ...): names the file and the cause, and on a full
// disk says that a rerun resumes once space is freed.
error write_failure(const std::string & path, int err);

// Appends all `size` bytes of `data` at the end of the open file `fd` (named
// PATH in messages). A failed write cuts the part that was written, so the
// file ends where it did, and throws write_failure(PATH, errno).
void append_whole(int fd, const std::string & path, const void * data, size_t size);

// Writes PATH.tmp, then renames it over PATH: readers never see half a file.
// On a failed write PATH is left as it was and PATH.tmp is removed.
void write_file_atomically(const std::string & path, const std::string & content);
// A whole file's bytes; throws dare::error "PATH: cannot read ..." when it
// cannot be opened or read.
std::string read_file_bytes(const std::string & path);

// Reads {"id": ..., "prompt": "..."} lines (blank lines skipped; other keys
// ignored). Throws dare::error "FILE:LINE: ..." on the first malformed line or
// duplicate id, or if the file cannot be read or holds no record.
std::vector<prompt_record> read_prompts_jsonl(const std::string & path);

// Canonical text of a JSON id: strings as-is, numbers as their JSON text.
std::string id_text(const json & id);

// Key of a record in a record_log: its "id" as text, prefixed with its
// "kind" and a colon when it has one ("user:12"), so one file can hold users
// and items with overlapping ids.
std::string record_key(const json & record);

// One writer per output: holds an exclusive lock (flock) on `path`.lock
// for its lifetime, with the holder's pid in the file. A second process
// asking for the same output gets a dare::error at once naming that pid;
// the kernel drops the lock when its holder dies, so a killed run's lock
// never blocks the next one. Jobs take it before writing anything.
class output_lock {
  public:
    explicit output_lock(const std::string & path);
    ~output_lock();
    output_lock(const output_lock &) = delete;
    output_lock & operator=(const output_lock &) = delete;

  private:
    int fd_ = -1;
};

// Append-only JSONL file of records keyed by record_key().
class record_log {
  public:
    // Opens (creating if needed) `path`. Existing complete lines are kept and
    // their ids collected; an incomplete or unparsable *last* line is cut off
    // (a torn write); a malformed line elsewhere is an error (FILE:LINE).
    // `fresh` truncates the file instead.
    record_log(const std::string & path, bool fresh = false);
    ~record_log();
    record_log(const record_log &) = delete;
    record_log & operator=(const record_log &) = delete;

    bool contains(const std::string & key) const { return done_.count(key) != 0; }
    size_t size() const { return done_.size(); }
    const std::vector<json> & existing() const { return existing_; }
    bool repaired_torn_line() const { return repaired_; }

    // Writes one line and flushes it to the OS, so a later kill cannot lose it.
    // A failed write (full disk, ...) cuts what part of the line was written
    // and throws write_failure(): the file holds whole records only.
    void append(const json & record);

  private:
    std::string path_;
    int fd_ = -1;
    std::set<std::string> done_;
    std::vector<json> existing_;
    bool repaired_ = false;
};

}  // namespace dare
