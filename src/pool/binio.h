// Little binary I/O helpers for pool files (host byte order; the header's
// magic and version checks catch files from elsewhere). Internal header.
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <type_traits>
#include <vector>

#include "dare/error.h"

namespace dare::binio {

template <typename T>
void put(std::ostream & out, const T & v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out.write(reinterpret_cast<const char *>(&v), sizeof v);
}

template <typename T>
T get(std::istream & in) {
    static_assert(std::is_trivially_copyable_v<T>);
    T v{};
    if (!in.read(reinterpret_cast<char *>(&v), sizeof v)) {
        throw error("pool file is truncated");
    }
    return v;
}

// Bytes left to read in a seekable stream (0 when it cannot tell): lengths
// read from a file are checked against it before anything is allocated.
inline uint64_t remaining_bytes(std::istream & in) {
    const auto here = in.tellg();
    if (here < 0 || !in.seekg(0, std::ios::end)) {
        in.clear();
        return 0;
    }
    const auto end = in.tellg();
    in.seekg(here);
    return end > here ? static_cast<uint64_t>(end - here) : 0;
}

template <typename T>
void put_vec(std::ostream & out, const std::vector<T> & v) {
    put<uint64_t>(out, v.size());
    out.write(reinterpret_cast<const char *>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}

template <typename T>
void get_vec(std::istream & in, std::vector<T> & v, uint64_t max_elems) {
    const auto n = get<uint64_t>(in);
    if (n > max_elems) {
        throw error("pool file is corrupt (implausible array length)");
    }
    if (n > remaining_bytes(in) / sizeof(T)) {
        throw error("pool file is truncated (an array is longer than the rest of the file)");
    }
    v.resize(n);
    if (!in.read(reinterpret_cast<char *>(v.data()), static_cast<std::streamsize>(n * sizeof(T)))) {
        throw error("pool file is truncated");
    }
}

}  // namespace dare::binio
