// dare encode's resumable row store (contract in include/dare/row_store.h).
#include "dare/row_store.h"

#include <cerrno>
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
    rows_ = std::fopen(rows_path_.c_str(), "ab");
    idf_ = std::fopen(ids_path_.c_str(), "ab");
    if (!rows_ || !idf_) {
        const int err = errno;
        if (rows_) std::fclose(rows_);
        if (idf_) std::fclose(idf_);
        throw error(out + ": cannot write the encoding work files (" + std::strerror(err) + ")");
    }
}

row_store::~row_store() {
    std::fclose(rows_);
    std::fclose(idf_);
}

void row_store::append(const std::string & id, std::span<const float> v) {
    // Row first, then its id: an id line is only there once its row is.
    if (std::fwrite(v.data(), sizeof(float), v.size(), rows_) != v.size() || std::fflush(rows_) != 0 ||
        std::fprintf(idf_, "%s\n", id.c_str()) < 0 || std::fflush(idf_) != 0) {
        throw write_failure(rows_path_, errno);
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
