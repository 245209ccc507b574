// Fuzz target: dare encode's resume reader (the .KIND.ids and .KIND.rows work
// files of an interrupted encode). The first byte sets the vector size (1-8
// floats); the rest is the ids file and the rows file separated by '\x1e'.
#include "dare/error.h"
#include "dare/row_store.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    if (size < 1) {
        return 0;
    }
    dare_fuzz::clear_scratch();
    const auto parts = dare_fuzz::split_input(data + 1, size - 1, 2);
    dare_fuzz::write_scratch(".item.ids", parts[0]);
    if (parts.size() > 1) {
        dare_fuzz::write_scratch(".item.rows", parts[1]);
    }
    const int32_t dim = 1 + data[0] % 8;
    try {
        dare::row_store s(dare_fuzz::scratch(), "item", dim);
        (void) s.all_rows();
        const std::vector<float> row(static_cast<size_t>(dim), 0.5f);
        s.append("new", row);
        if (s.all_rows().size() != s.ids().size() * static_cast<size_t>(dim)) {
            std::abort();
        }
    } catch (const dare::error &) {
    }
    return 0;
}
