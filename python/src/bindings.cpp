// dare._dare: the C++ library for Python (nanobind). Options travel as the
// CLI's flags (include/dare/cli_options.h), results as JSON text that the
// Python layer (python/dare/__init__.py) decodes, so the package has every
// option of the CLI and returns exactly the fields of its files. dare::error
// becomes dare.Error with the same message. Every call releases the GIL
// before it takes the lock of its session (and pool), so sessions run in
// parallel from Python threads and one session or pool is used by one call
// at a time. Generating calls made from the main thread take SIGINT and
// SIGTERM the way the CLI does (the records in flight are dropped) and hand
// the signal back to Python when they stop: Ctrl-C raises KeyboardInterrupt.
#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <csignal>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "dare/backend.h"
#include "dare/cli_options.h"
#include "dare/error.h"
#include "dare/pipeline.h"
#include "dare/pool.h"
#include "dare/report.h"
#include "dare/run_folder.h"
#include "dare/session.h"
#include "dare/signals.h"

namespace nb = nanobind;

namespace {

// A retrieval pool, owned by Python.
struct py_pool {
    std::unique_ptr<dare::token_index> idx;
    std::unique_ptr<std::mutex> mu = std::make_unique<std::mutex>();
};

bool on_main_thread() {
    const nb::module_ threading = nb::module_::import_("threading");
    return threading.attr("current_thread")().is(threading.attr("main_thread")());
}

// Runs f() without the GIL.
template <class F> auto without_gil(F && f) -> decltype(f()) {
    nb::gil_scoped_release unlocked;
    return f();
}

// Hands a stop signal that arrived during a call to Python: on the main
// thread Python's own handler runs as if the signal had arrived now
// (SIGINT's default raises KeyboardInterrupt; a signal without a Python
// handler gets its default action); elsewhere, and if the handler returns,
// dare.Error "interrupted".
[[noreturn]] void forward_stop(int sig, bool main) {
    const std::string what = std::string("interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                             ": finished records are saved; rerun the same call to resume";
    if (main) {
        const nb::module_ signal = nb::module_::import_("signal");
        const nb::object handler = signal.attr("getsignal")(sig);
        if (handler.is(signal.attr("SIG_DFL"))) {
            std::raise(sig);  // the process ends, as it would have without dare
        } else if (!handler.is(signal.attr("SIG_IGN")) && !handler.is_none()) {
            if (PyErr_SetInterruptEx(sig) == 0 && PyErr_CheckSignals() < 0) {
                throw nb::python_error();
            }
        }
    }
    throw dare::error(what);
}

// Runs f() without the GIL, stoppable: from the main thread, SIGINT and
// SIGTERM stop it at its next check (throw_if_stopped: a decoding step, a
// record) and then go to Python (forward_stop), also when one arrives after
// the last check. A call on another thread stops when the main thread's
// call receives a signal (the flag is process-wide).
template <class F> auto interruptible(F && f) -> decltype(f()) {
    using R = decltype(f());
    const bool main = on_main_thread();
    int sig = 0;
    std::conditional_t<std::is_void_v<R>, int, std::optional<R>> result{};
    {
        nb::gil_scoped_release unlocked;
        std::unique_ptr<dare::scoped_stop_handlers> handlers;
        if (main) {
            handlers = std::make_unique<dare::scoped_stop_handlers>();
        }
        try {
            if constexpr (std::is_void_v<R>) {
                f();
            } else {
                result = f();
            }
        } catch (const dare::interrupted & e) {
            sig = e.signal;
        }
        if (sig == 0 && main) {
            sig = dare::stop_signal();  // arrived after the last check
        }
    }
    if (sig != 0) {
        forward_stop(sig, main);
    }
    if constexpr (!std::is_void_v<R>) {
        return std::move(*result);
    }
}

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
        return interruptible([&] {
            const auto locks = lock(pool);
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
        });
    }

    py_pool new_pool(const std::string & kind) const {
        return py_pool{dare::make_index(dare::parse_index_kind(kind))};
    }
    py_pool load_pool(const std::string & path) const {
        return without_gil([&] { return py_pool{dare::load_pool(path, fingerprint())}; });
    }
    void save_pool(py_pool & pool, const std::string & path) const {
        without_gil([&] {
            const std::lock_guard<std::mutex> l(*pool.mu);
            dare::save_pool(path, *pool.idx, fingerprint());
        });
    }
    void add_to_pool(py_pool & pool, const std::string & prompt, const std::string & text) {
        without_gil([&] {
            const auto locks = lock(&pool);
            s_.reinsert(*pool.idx, prompt, text);
        });
    }
    std::vector<int32_t> prompt_tokens(const std::string & prompt) {
        return without_gil([&] {
            const std::lock_guard<std::mutex> l(mu_);
            const auto t = s_.prompt_tokens(prompt);
            return std::vector<int32_t>(t.begin(), t.end());
        });
    }
    std::string model_name() const { return s_.get_model().info().name; }

  private:
    // The session's lock, and the pool's when there is one (both at once, so
    // two sessions sharing a pool cannot deadlock).
    std::pair<std::unique_lock<std::mutex>, std::unique_lock<std::mutex>> lock(py_pool * pool) {
        if (!pool) {
            return {std::unique_lock<std::mutex>(mu_), std::unique_lock<std::mutex>()};
        }
        std::unique_lock<std::mutex> a(mu_, std::defer_lock), b(*pool->mu, std::defer_lock);
        std::lock(a, b);
        return {std::move(a), std::move(b)};
    }
    uint64_t fingerprint() const { return s_.get_model().info().vocab_fingerprint; }

    std::mutex mu_;
    dare::generation_session s_;
};

// The writer of a distributed run (python -m dare.ray): owns the run folder
// until close(). Records travel as JSON text, pools as bytes. Every call
// releases the GIL before it takes the folder's lock.
class py_run_folder {
  public:
    explicit py_run_folder(const std::vector<std::string> & args)
        : o_(dare::parse_run_options(args)),
          plan_(dare::plan_run(o_)),
          folder_(std::make_unique<dare::run_folder>(o_, plan_)) {}

    // Writes run.json, plan.json and errors.jsonl (the rows of the worker's
    // prompt_errors(); those records leave the plan) and opens knowledge.jsonl.
    void begin(const std::string & errors_json) {
        locked([&] {
            const dare::json errors = dare::json::parse(errors_json);
            std::set<std::string> bad;
            for (const auto & e : errors) {
                bad.insert(e["kind"].get<std::string>() + ":" + e["id"].get<std::string>());
            }
            for (auto & g : plan_.groups) {
                std::erase_if(g.records,
                              [&](const dare::planned_record & r) { return bad.count(r.kind + ":" + r.id) != 0; });
            }
            folder().begin();
            folder().write_errors(errors);
        });
    }
    // The plan's groups: kind, group and records (key, phase), warm-up first.
    std::string groups() {
        return locked([&] {
            dare::json out = dare::json::array();
            for (const auto & g : plan_.groups) {
                dare::json recs = dare::json::array();
                for (const auto & r : g.records) {
                    recs.push_back({{"key", r.kind + ":" + r.id}, {"phase", r.phase}});
                }
                out.push_back({{"kind", g.kind}, {"group", g.name}, {"records", std::move(recs)}});
            }
            return out.dump();
        });
    }
    int64_t reuse() {
        return locked([&] { return static_cast<int64_t>(folder().reuse(plan_.groups).size()); });
    }
    // {"kind/group": [records done, in file order]}: the file's when it was
    // opened, those reused, and those appended since.
    std::string done_by_group() {
        return locked([&] {
            dare::json out = dare::json::object();
            for (const auto & [key, recs] : folder().done_by_group()) {
                for (const dare::json * r : recs) {
                    out[key].push_back(*r);
                }
            }
            for (const auto & r : appended_) {
                out[r["kind"].get<std::string>() + "/" + r["group"].get<std::string>()].push_back(r);
            }
            return out.dump();
        });
    }
    bool contains(const std::string & key) {
        return locked([&] { return folder().contains(key); });
    }
    // Appends the records of a JSON array not yet in the folder; returns how many.
    int64_t append(const std::string & records_json) {
        return locked([&] {
            int64_t n = 0;
            for (auto & r : dare::json::parse(records_json)) {
                if (!folder().contains(dare::record_key(r))) {
                    folder().append(r);
                    appended_.push_back(std::move(r));
                    ++n;
                }
            }
            return n;
        });
    }
    int64_t saved_pool_records(const std::string & kind, const std::string & group) {
        return locked([&] { return folder().saved_pool_records(kind, group); });
    }
    void save_pool(const std::string & kind, const std::string & group, const nb::bytes & pool, int64_t records) {
        const std::string bytes(pool.c_str(), pool.size());
        locked([&] { folder().save_pool(kind, group, bytes, records); });
    }
    std::string finish() {
        return locked([&] { return folder().finish().dump(); });
    }
    // Releases the folder's lock; the object is unusable afterwards.
    void close() {
        locked([&] { folder_.reset(); });
    }

  private:
    template <class F> auto locked(F && f) -> decltype(f()) {
        return without_gil([&] {
            const std::lock_guard<std::mutex> l(mu_);
            return f();
        });
    }
    dare::run_folder & folder() {
        if (!folder_) {
            throw dare::error(o_.out + ": run folder closed");
        }
        return *folder_;
    }

    std::mutex mu_;
    dare::run_options o_;
    dare::run_plan plan_;
    std::unique_ptr<dare::run_folder> folder_;
    std::vector<dare::json> appended_;
};

// A worker of a distributed run: the model and the plan, generating shards.
class py_run_worker {
  public:
    explicit py_run_worker(const std::vector<std::string> & args) : w_(dare::parse_run_options(args)) {}

    std::string prompt_errors() const { return w_.prompt_errors().dump(); }
    nb::bytes group_pool(const std::string & kind, const std::string & group, const std::string & done_json) {
        const std::string bytes = interruptible([&] {
            const std::lock_guard<std::mutex> l(mu_);
            const dare::json done = dare::json::parse(done_json);
            return w_.group_pool(kind, group, std::vector<dare::json>(done.begin(), done.end()));
        });
        return nb::bytes(bytes.data(), bytes.size());
    }
    // (records as a JSON array, the pool grown with them when `want_pool`, else b"")
    std::pair<std::string, nb::bytes> generate(const std::vector<std::string> & keys, const nb::bytes & pool,
                                               bool want_pool) {
        const std::string in(pool.c_str(), pool.size());
        dare::shard_result r = interruptible([&] {
            const std::lock_guard<std::mutex> l(mu_);
            return w_.generate(keys, in);
        });
        if (!want_pool) {
            r.pool.clear();
        }
        return {dare::json(r.records).dump(), nb::bytes(r.pool.data(), r.pool.size())};
    }

  private:
    std::mutex mu_;
    dare::run_worker w_;
};

}  // namespace

NB_MODULE(_dare, m) {
    m.doc() = "dare's C++ library (use the dare package, not this module)";
    nb::exception<dare::error>(m, "Error", PyExc_RuntimeError);
    m.def("version", &dare::version_text);
    m.def("plan", [](const std::vector<std::string> & args) { return without_gil([&] { return plan_json(args); }); },
          nb::arg("args"));
    m.def(
        "run",
        [](const std::vector<std::string> & args) {
            return interruptible([&] { return dare::run_pipeline(dare::parse_run_options(args)).dump(); });
        },
        nb::arg("args"));

    m.def("report_table", [](const std::string & summary) { return dare::report_table(dare::json::parse(summary)); },
          nb::arg("summary"));

    nb::class_<py_run_folder>(m, "RunFolder")
        .def("__init__",
             [](py_run_folder * self, const std::vector<std::string> & args) {
                 without_gil([&] { new (self) py_run_folder(args); });
             },
             nb::arg("args"))
        .def("begin", &py_run_folder::begin, nb::arg("errors"))
        .def("groups", &py_run_folder::groups)
        .def("reuse", &py_run_folder::reuse)
        .def("done_by_group", &py_run_folder::done_by_group)
        .def("contains", &py_run_folder::contains, nb::arg("key"))
        .def("append", &py_run_folder::append, nb::arg("records"))
        .def("saved_pool_records", &py_run_folder::saved_pool_records, nb::arg("kind"), nb::arg("group"))
        .def("save_pool", &py_run_folder::save_pool, nb::arg("kind"), nb::arg("group"), nb::arg("pool"),
             nb::arg("records"))
        .def("finish", &py_run_folder::finish)
        .def("close", &py_run_folder::close);

    nb::class_<py_run_worker>(m, "RunWorker")
        .def("__init__",
             [](py_run_worker * self, const std::vector<std::string> & args) {
                 without_gil([&] { new (self) py_run_worker(args); });
             },
             nb::arg("args"))
        .def("prompt_errors", &py_run_worker::prompt_errors)
        .def("group_pool", &py_run_worker::group_pool, nb::arg("kind"), nb::arg("group"), nb::arg("done"))
        .def("generate", &py_run_worker::generate, nb::arg("keys"), nb::arg("pool"), nb::arg("want_pool"));

    nb::class_<py_pool>(m, "Pool")
        .def_prop_ro("kind", [](const py_pool & p) { return std::string(dare::index_kind_name(p.idx->kind())); })
        .def_prop_ro("stored_tokens",
                     [](py_pool & p) {
                         return without_gil([&] {
                             const std::lock_guard<std::mutex> l(*p.mu);
                             return p.idx->stored_tokens();
                         });
                     })
        .def_prop_ro("memory_bytes", [](py_pool & p) {
            return without_gil([&] {
                const std::lock_guard<std::mutex> l(*p.mu);
                return p.idx->memory_bytes();
            });
        });

    nb::class_<py_session>(m, "Session")
        .def(nb::init<const std::vector<std::string> &>(), nb::arg("args"), nb::call_guard<nb::gil_scoped_release>())
        .def("generate", &py_session::generate, nb::arg("prompts"), nb::arg("ids"), nb::arg("pool").none())
        .def("new_pool", &py_session::new_pool, nb::arg("kind"))
        .def("load_pool", &py_session::load_pool, nb::arg("path"))
        .def("save_pool", &py_session::save_pool, nb::arg("pool"), nb::arg("path"))
        .def("add_to_pool", &py_session::add_to_pool, nb::arg("pool"), nb::arg("prompt"), nb::arg("text"))
        .def("prompt_tokens", &py_session::prompt_tokens, nb::arg("prompt"))
        .def_prop_ro("model_name", &py_session::model_name);
}
