# Adds the pinned llama.cpp (unpacked by scripts/setup.sh from the
# llama-cpp-python sdist into the download cache) as a static subproject.
# Nothing of llama.cpp lives in this repository.

set(DARE_LLAMA_VERSION "0.3.36" CACHE INTERNAL "llama-cpp-python version that carries our llama.cpp")
if(DEFINED ENV{DARE_CACHE})
  set(_dare_cache "$ENV{DARE_CACHE}")
else()
  set(_dare_cache "$ENV{HOME}/.cache/dare")
endif()
set(DARE_LLAMA_DIR "${_dare_cache}/llama.cpp-${DARE_LLAMA_VERSION}"
    CACHE PATH "llama.cpp source tree (unpacked by scripts/setup.sh)")

if(NOT EXISTS "${DARE_LLAMA_DIR}/CMakeLists.txt")
  message(FATAL_ERROR
    "llama.cpp source not found at ${DARE_LLAMA_DIR}.\n"
    "Run scripts/setup.sh first (it downloads llama-cpp-python==${DARE_LLAMA_VERSION} from PyPI), "
    "or pass -DDARE_LLAMA_DIR=<path to llama.cpp>.")
endif()

set(BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_COMMON ON CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TESTS OFF CACHE BOOL "" FORCE)
# llama.cpp's server only for bench/job.sh (DARE_LLAMA_SERVER), without its
# web UI (nothing is downloaded or built with npm).
set(LLAMA_BUILD_TOOLS ${DARE_LLAMA_SERVER} CACHE BOOL "" FORCE)
set(LLAMA_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_SERVER ${DARE_LLAMA_SERVER} CACHE BOOL "" FORCE)
set(LLAMA_BUILD_UI OFF CACHE BOOL "" FORCE)
set(LLAMA_USE_PREBUILT_UI OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_APP OFF CACHE BOOL "" FORCE)
set(LLAMA_OPENSSL OFF CACHE BOOL "" FORCE)
set(LLAMA_CURL OFF CACHE BOOL "" FORCE)
set(LLAMA_ALL_WARNINGS OFF CACHE BOOL "" FORCE)
set(GGML_CUDA ${DARE_CUDA} CACHE BOOL "" FORCE)
# A portable AVX2 baseline (x86-64-v3) by default: -march=native can pick
# instructions a VM advertises but does not run (AMX tiles gave SIGILL on one
# of our machines), and timings stay comparable across machines of a kind.
set(GGML_NATIVE ${DARE_NATIVE} CACHE BOOL "" FORCE)
if(NOT DARE_NATIVE AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  foreach(_isa SSE42 AVX AVX2 BMI2 FMA F16C)
    set(GGML_${_isa} ON CACHE BOOL "" FORCE)
  endforeach()
  foreach(_isa AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16 AVX_VNNI AMX_TILE AMX_INT8 AMX_BF16)
    set(GGML_${_isa} OFF CACHE BOOL "" FORCE)
  endforeach()
endif()
if(DARE_CUDA AND NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures (sm_90: H100/H200)")
endif()

# llama.cpp's own warnings are not ours to fix; keep -Werror off for it.
add_subdirectory("${DARE_LLAMA_DIR}" "${CMAKE_BINARY_DIR}/llama.cpp" EXCLUDE_FROM_ALL SYSTEM)

# llama.cpp's GGUF splitter, built on demand (bench/gpu.sh pack: the model
# reaches the GPU machine in pieces of at most 44 MiB).
if(NOT DARE_LLAMA_SERVER AND EXISTS "${DARE_LLAMA_DIR}/tools/gguf-split/CMakeLists.txt")  # the tools bring it otherwise
  add_subdirectory("${DARE_LLAMA_DIR}/tools/gguf-split" "${CMAKE_BINARY_DIR}/gguf-split" EXCLUDE_FROM_ALL)
endif()
