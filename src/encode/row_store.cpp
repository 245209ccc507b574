// dare encode's resumable row store (contract in include/dare/row_store.h).
#include "dare/row_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "dare/error.h"
#include "dare/jsonl.h"

namespace fs = std::filesystem;

namespace dare {

row_store::row_store(const std::string & out, const std::string & kind, int32_t dim)
    : rows_path_(out + "/." + kind + ".rows"), ids_path_(out + "/." + kind + ".ids"), dim_(dim) {
    if (dim < 1) {
        throw error(rows_path_ + ": vector size must be at least 1 (got " + std::to_string(dim) + ")");
    }
    // Keep the rows both files hold in full; cut whatever a kill tore.
    std::ifstream in(ids_path_, std::ios::binary);
    for (std::string line; std::getline(in, line);) {
        if (!in.eof()) {
            ids_.push_back(line);
        }
    }
    std::error_code ec;
    const uint64_t row_bytes = static_cast<uint64_t>(dim_) * sizeof(float);
    const uint64_t have = fs::exists(rows_path_, ec) ? fs::file_size(rows_path_, ec) / row_bytes : 0;
    ids_.resize(std::min<uint64_t>(ids_.size(), ec ? 0 : have));
    if (fs::exists(rows_path_, ec)) {
        fs::resize_file(rows_path_, ids_.size() * row_bytes, ec);
        if (ec) {
            throw error(rows_path_ + ": cannot cut a torn row: " + ec.message());
        }
    }
    std::string kept;
    for (const auto & id : ids_) {
        kept += id + "\n";
    }
    write_file_atomically(ids_path_, kept);
    rows_ = ::open(rows_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int rows_err = errno;
    idf_ = ::open(ids_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (rows_ < 0 || idf_ < 0) {
        const int err = rows_ < 0 ? rows_err : errno;
        const std::string & path = rows_ < 0 ? rows_path_ : ids_path_;
        close_files();
        throw error(path + ": cannot open for writing (" + std::strerror(err) + ")");
    }
}

void row_store::close_files() {
    for (int * fd : {&rows_, &idf_}) {
        if (*fd >= 0) {
            ::close(*fd);
            *fd = -1;
        }
    }
}

row_store::~row_store() { close_files(); }

void row_store::append(const std::string & id, std::span<const float> v) {
    // Row first, then its id: an id line is only there once its row is. A
    // failed id write also cuts its row, so both files end on the same row.
    const off_t rows_end = ::lseek(rows_, 0, SEEK_END);
    append_whole(rows_, rows_path_, v.data(), v.size_bytes());
    const std::string line = id + "\n";
    try {
        append_whole(idf_, ids_path_, line.data(), line.size());
    } catch (const error &) {
        if (rows_end >= 0) {
            const int rc = ::ftruncate(rows_, rows_end);  // if this fails too, the reopening cuts the row
            (void) rc;
        }
        throw;
    }
    ids_.push_back(id);
}

std::vector<float> row_store::all_rows() const {
    std::vector<float> data(ids_.size() * static_cast<size_t>(dim_));
    std::ifstream in(rows_path_, std::ios::binary);
    in.read(reinterpret_cast<char *>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(float)));
    if (!in) {
        throw error(rows_path_ + ": shorter than its ids say");
    }
    return data;
}

}  // namespace dare
