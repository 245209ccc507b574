// Private to libdare: the raw llama.cpp model behind a dare::model, for the
// one other module that must speak llama.cpp directly (peers/, which runs
// llama.cpp's own decoding loops for comparison). Nothing else includes this.
#pragma once

#include "dare/backend.h"

struct llama_model;

namespace dare {

llama_model * llama_model_handle(const model & m);

}  // namespace dare
