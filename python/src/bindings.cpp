// dare._dare: the C++ library for Python (nanobind). Options travel as the
// CLI's flags (include/dare/cli_options.h), results as JSON text that the
// Python layer (python/dare/__init__.py) decodes, so the package has every
// option of the CLI and returns exactly the fields of its files. dare::error
// becomes dare.Error with the same message. Long calls release the GIL.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <string>
#include <vector>

#include "dare/backend.h"
#include "dare/cli_options.h"
#include "dare/error.h"
#include "dare/pipeline.h"
#include "dare/pool.h"
#include "dare/session.h"

namespace nb = nanobind;

namespace {

// A retrieval pool, owned by Python.
struct py_pool {
    std::unique_ptr<dare::token_index> idx;
};

std::string plan_json(const std::vector<std::string> & args) {
    const dare::run_plan p = dare::plan_run(dare::parse_run_options(args));
    dare::json groups = dare::json::array();
    for (const auto & g : p.groups) {
        dare::json recs = dare::json::array();
        for (const auto & r : g.records) {
            recs.push_back({{"kind", r.kind}, {"id", r.id}, {"group", r.group}, {"phase", r.phase}, {"prompt", r.prompt}});
        }
        groups.push_back({{"kind", g.kind},
                          {"group", g.name},
                          {"dataset_size", g.dataset_size},
                          {"warmup", g.warmup},
                          {"records", std::move(recs)}});
    }
    return dare::json{{"settings", p.settings}, {"dataset", p.dataset_info}, {"groups", std::move(groups)}}.dump();
}

class py_session {
  public:
    explicit py_session(const std::vector<std::string> & args) : s_(dare::parse_decoding_options(args)) {}

    std::string generate(const std::vector<std::string> & prompts, const std::vector<std::string> & ids,
                         py_pool * pool) {
        if (!ids.empty() && ids.size() != prompts.size()) {
            throw dare::error("ids: " + std::to_string(ids.size()) + " ids for " + std::to_string(prompts.size()) +
                              " prompts");
        }
        if (s_.drafts_from_pool() && !pool) {
            throw dare::error("mode dare drafts from a pool: pass pool= (Session.new_pool or Session.load_pool)");
        }
        std::vector<std::vector<dare::token>> tokens(prompts.size());
        for (size_t i = 0; i < prompts.size(); ++i) {
            tokens[i] = s_.prompt_tokens(prompts[i]);
            try {
                s_.check_fits(tokens[i].size());
            } catch (const dare::error & e) {
                throw dare::error("prompt " + std::to_string(i) + ": " + e.what());
            }
        }
        dare::token_index * idx = pool ? pool->idx.get() : nullptr;
        std::vector<dare::json> out(prompts.size());
        auto id_of = [&](size_t i) { return ids.empty() ? std::to_string(i) : ids[i]; };
        s_.generate_many(
            prompts.size(),
            [&](size_t i) {
                return dare::generation_session::record_ref{tokens[i], prompts[i], id_of(i), idx};
            },
            [&](size_t i, dare::generation_result && r) { out[i] = s_.record_json(id_of(i), prompts[i], r); });
        return dare::json(out).dump();
    }

    py_pool new_pool(const std::string & kind) const {
        return py_pool{dare::make_index(dare::parse_index_kind(kind))};
    }
    py_pool load_pool(const std::string & path) const {
        return py_pool{dare::load_pool(path, s_.get_model().info().vocab_fingerprint)};
    }
    void save_pool(const py_pool & pool, const std::string & path) const {
        dare::save_pool(path, *pool.idx, s_.get_model().info().vocab_fingerprint);
    }
    void add_to_pool(py_pool & pool, const std::string & prompt, const std::string & text) const {
        s_.reinsert(*pool.idx, prompt, text);
    }
    std::vector<int32_t> prompt_tokens(const std::string & prompt) const {
        const auto t = s_.prompt_tokens(prompt);
        return {t.begin(), t.end()};
    }
    std::string model_name() const { return s_.get_model().info().name; }

  private:
    dare::generation_session s_;
};

}  // namespace

NB_MODULE(_dare, m) {
    m.doc() = "dare's C++ library (use the dare package, not this module)";
    nb::exception<dare::error>(m, "Error", PyExc_RuntimeError);
    m.def("version", &dare::version_text);
    m.def("plan", &plan_json, nb::arg("args"), nb::call_guard<nb::gil_scoped_release>());
    m.def(
        "run", [](const std::vector<std::string> & args) { return dare::run_pipeline(dare::parse_run_options(args)).dump(); },
        nb::arg("args"), nb::call_guard<nb::gil_scoped_release>());

    nb::class_<py_pool>(m, "Pool")
        .def_prop_ro("kind", [](const py_pool & p) { return std::string(dare::index_kind_name(p.idx->kind())); })
        .def_prop_ro("stored_tokens", [](const py_pool & p) { return p.idx->stored_tokens(); })
        .def_prop_ro("memory_bytes", [](const py_pool & p) { return p.idx->memory_bytes(); });

    nb::class_<py_session>(m, "Session")
        .def(nb::init<const std::vector<std::string> &>(), nb::arg("args"), nb::call_guard<nb::gil_scoped_release>())
        .def("generate", &py_session::generate, nb::arg("prompts"), nb::arg("ids"), nb::arg("pool").none(),
             nb::call_guard<nb::gil_scoped_release>())
        .def("new_pool", &py_session::new_pool, nb::arg("kind"))
        .def("load_pool", &py_session::load_pool, nb::arg("path"))
        .def("save_pool", &py_session::save_pool, nb::arg("pool"), nb::arg("path"))
        .def("add_to_pool", &py_session::add_to_pool, nb::arg("pool"), nb::arg("prompt"), nb::arg("text"))
        .def("prompt_tokens", &py_session::prompt_tokens, nb::arg("prompt"))
        .def_prop_ro("model_name", &py_session::model_name);
}
