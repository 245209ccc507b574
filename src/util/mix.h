// Small deterministic mixing functions shared inside the library (internal
// header): FNV-1a for fingerprints and checksums, splitmix64 for seeds and
// uniform draws. Both give the same results on every platform, unlike the
// standard library's distributions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dare::mix {

constexpr uint64_t fnv_offset = 14695981039346656037ull;

inline uint64_t fnv1a(uint64_t h, const void * data, size_t n) {
    const auto * p = static_cast<const unsigned char *>(data);
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

inline uint64_t splitmix64(uint64_t & s) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Uniform in [0, 1).
inline double uniform01(uint64_t & s) { return static_cast<double>(splitmix64(s) >> 11) * 0x1.0p-53; }

}  // namespace dare::mix
