// dare encode's resumable work files, one pair per record kind in the output
// folder: .KIND.rows (float32 vectors, `dim` per row, appended) and .KIND.ids
// (one id per line, appended after its row). Opening keeps the rows both files
// hold in full and cuts whatever a kill tore (a partial row, an id without a
// row, a last id line without its newline), so a rerun encodes exactly the
// records that are missing. Model-free.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dare {

class row_store {
  public:
    // Opens (creating if needed) OUT/.KIND.rows and OUT/.KIND.ids. Throws
    // dare::error if `dim` < 1 or the files cannot be read or written.
    row_store(const std::string & out, const std::string & kind, int32_t dim);
    ~row_store();
    row_store(const row_store &) = delete;
    row_store & operator=(const row_store &) = delete;

    // Ids of the rows held, in file order.
    const std::vector<std::string> & ids() const { return ids_; }
    // Appends one row (dim floats) and then its id; throws write_failure()
    // when a write fails.
    void append(const std::string & id, std::span<const float> v);
    // Every row held, row-major.
    std::vector<float> all_rows() const;

  private:
    std::string rows_path_, ids_path_;
    int32_t dim_ = 0;
    std::vector<std::string> ids_;
    int rows_ = -1, idf_ = -1;  // append-only descriptors

    void close_files();
};

}  // namespace dare
