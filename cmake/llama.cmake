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
# Instruction sets of llama.cpp's CPU kernels: the AVX2 baseline (x86-64-v3)
# plus the AVX-512 extensions (F, VBMI, VNNI, BF16) and AVX-VNNI that this
# machine's /proc/cpuinfo reports (DARE_CPU_DETECT, on by default; off: the
# baseline alone, for a binary that runs on any AVX2 machine). AMX is never
# enabled: a VM can advertise AMX tiles it does not run (SIGILL on one of our
# machines), which is also why GGML_NATIVE (-march=native) is opt-in
# (DARE_NATIVE). docs/benchmarks.md "Instruction sets" measures the gain.
set(GGML_NATIVE ${DARE_NATIVE} CACHE BOOL "" FORCE)
if(NOT DARE_NATIVE AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  foreach(_isa SSE42 AVX AVX2 BMI2 FMA F16C)
    set(GGML_${_isa} ON CACHE BOOL "" FORCE)
  endforeach()
  set(_cpu_flags "")
  if(DARE_CPU_DETECT AND NOT CMAKE_CROSSCOMPILING AND EXISTS /proc/cpuinfo)
    file(STRINGS /proc/cpuinfo _cpu_flags REGEX "^flags" LIMIT_COUNT 1)
  endif()
  # GGML option <- /proc/cpuinfo flag (AVX512 needs all of F, CD, VL, DQ, BW).
  set(_isa_map AVX512_VBMI=avx512vbmi AVX512_VNNI=avx512_vnni AVX512_BF16=avx512_bf16 AVX_VNNI=avx_vnni)
  set(_avx512 OFF)
  if(_cpu_flags MATCHES " avx512f " AND _cpu_flags MATCHES " avx512cd " AND _cpu_flags MATCHES " avx512vl "
     AND _cpu_flags MATCHES " avx512dq " AND _cpu_flags MATCHES " avx512bw ")
    set(_avx512 ON)
  endif()
  set(GGML_AVX512 ${_avx512} CACHE BOOL "" FORCE)
  set(DARE_CPU_EXTENSIONS "")
  if(_avx512)
    set(DARE_CPU_EXTENSIONS "AVX512")
  endif()
  foreach(_pair ${_isa_map})
    string(REPLACE "=" ";" _pair "${_pair}")
    list(GET _pair 0 _isa)
    list(GET _pair 1 _flag)
    set(_on OFF)
    if((_avx512 OR _isa STREQUAL "AVX_VNNI") AND _cpu_flags MATCHES " ${_flag}( |$)")
      set(_on ON)
      list(APPEND DARE_CPU_EXTENSIONS ${_isa})
    endif()
    set(GGML_${_isa} ${_on} CACHE BOOL "" FORCE)
  endforeach()
  foreach(_isa AMX_TILE AMX_INT8 AMX_BF16)
    set(GGML_${_isa} OFF CACHE BOOL "" FORCE)
  endforeach()
  if(DARE_CPU_EXTENSIONS)
    string(REPLACE ";" ", " _ext "${DARE_CPU_EXTENSIONS}")
    message(STATUS "dare: llama.cpp's CPU kernels use AVX2 and ${_ext} (this machine's; -DDARE_CPU_DETECT=OFF for AVX2 alone)")
  else()
    message(STATUS "dare: llama.cpp's CPU kernels use the AVX2 baseline")
  endif()
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
