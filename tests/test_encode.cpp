// dare encode: the .npy files load with the documented shape and dtype (a
// reader written here, not NumPy's), rows follow the ids file, a text's
// vector does not depend on what else was in its batch, and a torn work file
// is repaired on rerun.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "dare/encode.h"
#include "dare/error.h"
#include "dare/jsonl.h"
#include "test_util.h"

using namespace dare_test;

namespace {

struct npy {
    std::string descr;
    bool fortran = true;
    int64_t rows = -1, cols = -1;
    std::vector<float> data;
};

// Minimal NPY 1.0 reader: magic, version, header dict, little-endian float32 body.
npy read_npy(const std::string & path) {
    const std::string s = read_file(path);
    npy r;
    EXPECT_GE(s.size(), 10u);
    EXPECT_EQ(s.substr(0, 6), std::string("\x93NUMPY", 6));
    EXPECT_EQ(s[6], 1);
    EXPECT_EQ(s[7], 0);
    const size_t hlen = static_cast<unsigned char>(s[8]) | (static_cast<size_t>(static_cast<unsigned char>(s[9])) << 8);
    EXPECT_EQ((10 + hlen) % 64, 0u) << "header padded to 64 bytes";
    const std::string h = s.substr(10, hlen);
    EXPECT_EQ(h.back(), '\n');
    const auto field = [&](const std::string & key) {
        const size_t p = h.find("'" + key + "': ");
        EXPECT_NE(p, std::string::npos) << key;
        return h.substr(p + key.size() + 4);
    };
    r.descr = field("descr").substr(1, 3);
    r.fortran = field("fortran_order").rfind("True", 0) == 0;
    std::sscanf(field("shape").c_str(), "(%lld, %lld)", reinterpret_cast<long long *>(&r.rows),
                reinterpret_cast<long long *>(&r.cols));
    const size_t body = 10 + hlen;
    r.data.resize((s.size() - body) / sizeof(float));
    std::memcpy(r.data.data(), s.data() + body, r.data.size() * sizeof(float));
    return r;
}

std::vector<std::string> lines_of(const std::string & path) {
    std::vector<std::string> out;
    std::istringstream in(read_file(path));
    for (std::string l; std::getline(in, l);) {
        out.push_back(l);
    }
    return out;
}

void write_run(const std::string & dir) {
    std::filesystem::create_directories(dir);
    write_file(dir + "/knowledge.jsonl",
               R"({"kind": "item", "id": 1, "text": "Toy Story is an animated comedy about toys."})" "\n"
               R"({"kind": "user", "id": 7, "text": "This user enjoys thrillers and crime dramas."})" "\n"
               R"({"kind": "item", "id": 2, "text": "Jumanji is an adventure film with a board game."})" "\n"
               R"({"kind": "item", "id": 3, "text": "Heat is a crime thriller."})" "\n"
               R"({"kind": "user", "id": 9, "text": "Prefers light comedies and romance."})" "\n");
}

}  // namespace

TEST(Encode, NpyWriterRoundTrips) {
    temp_dir t;
    const std::vector<float> v = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, 7.0f};
    dare::write_npy_f32(t / "a.npy", v, 2, 3);
    const auto r = read_npy(t / "a.npy");
    EXPECT_EQ(r.descr, "<f4");
    EXPECT_FALSE(r.fortran);
    EXPECT_EQ(r.rows, 2);
    EXPECT_EQ(r.cols, 3);
    EXPECT_EQ(r.data, v);
    EXPECT_THROW(dare::write_npy_f32(t / "b.npy", v, 4, 3), dare::error);
}

TEST(Encode, RunFolderToVectorsResumably) {
    temp_dir t;
    write_run(t / "run");
    dare::encode_options o;
    o.rundir = t / "run";
    o.encoder = dare::default_model_path();
    o.batch = 2;
    o.threads = 2;
    const auto s = dare::run_encode(o);
    EXPECT_EQ(s.encoded, 5);
    EXPECT_EQ(s.items, 3);
    EXPECT_EQ(s.users, 2);
    const auto items = read_npy(t / "run/embeddings/item.npy");
    const auto users = read_npy(t / "run/embeddings/user.npy");
    EXPECT_EQ(items.rows, 3);
    EXPECT_EQ(users.rows, 2);
    EXPECT_EQ(items.cols, s.dim);
    EXPECT_EQ(static_cast<int64_t>(items.data.size()), 3 * s.dim);
    EXPECT_EQ(lines_of(t / "run/embeddings/item_ids.txt"), (std::vector<std::string>{"1", "2", "3"}));
    EXPECT_EQ(lines_of(t / "run/embeddings/user_ids.txt"), (std::vector<std::string>{"7", "9"}));
    for (float x : items.data) {
        EXPECT_TRUE(std::isfinite(x));
    }
    // Different texts, different vectors.
    EXPECT_NE(std::vector<float>(items.data.begin(), items.data.begin() + s.dim),
              std::vector<float>(items.data.begin() + s.dim, items.data.begin() + 2 * s.dim));

    // One text at a time gives the same vectors as two per batch (within float rounding).
    dare::encode_options one = o;
    one.batch = 1;
    one.out = t / "one";
    dare::run_encode(one);
    const auto items1 = read_npy(t / "one/item.npy");
    ASSERT_EQ(items1.data.size(), items.data.size());
    for (size_t i = 0; i < items.data.size(); ++i) {
        EXPECT_NEAR(items1.data[i], items.data[i], 1e-3f * (1.0f + std::fabs(items.data[i]))) << i;
    }

    // A kill mid-append leaves a torn row and id: a rerun cuts them and finishes.
    {
        std::ofstream rows(t / "run/embeddings/.item.rows", std::ios::binary | std::ios::app);
        rows.write("\x01\x02\x03", 3);
        std::ofstream ids(t / "run/embeddings/.item.ids", std::ios::app);
        ids << "4";  // no newline: torn
    }
    const auto again = dare::run_encode(o);
    EXPECT_EQ(again.encoded, 0);
    EXPECT_EQ(again.resumed, 5);
    EXPECT_EQ(read_npy(t / "run/embeddings/item.npy").data, items.data);

    // One encoder per output folder: while another process holds it, a
    // second refuses at once, naming it, and leaves the vectors alone.
    {
        const dare::output_lock held(t / "run/embeddings/encode.json");
        try {
            dare::run_encode(o);
            FAIL() << "a second encoder ran on a locked output";
        } catch (const dare::error & e) {
            EXPECT_NE(std::string(e.what()).find("another dare process"), std::string::npos) << e.what();
        }
        EXPECT_EQ(read_npy(t / "run/embeddings/item.npy").data, items.data);
    }

    // Another encoder's folder is refused rather than mixed.
    write_file(t / "run/embeddings/encode.json", R"({"encoder": "other.gguf", "dim": 3})");
    EXPECT_THROW(dare::run_encode(o), dare::error);
}

TEST(Encode, BadRunFolderIsAClearError) {
    temp_dir t;
    dare::encode_options o;
    o.rundir = t.str();
    EXPECT_THROW(dare::run_encode(o), dare::error);
    write_file(t / "knowledge.jsonl", "{\"kind\": \"item\", \"id\": 1}\n");
    o.encoder = dare::default_model_path();
    try {
        dare::run_encode(o);
        FAIL() << "expected an error";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("knowledge.jsonl:1"), std::string::npos) << e.what();
    }
}
