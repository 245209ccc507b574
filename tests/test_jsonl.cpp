// JSONL prompt reader (errors with line numbers) and the resumable record log.
#include <gtest/gtest.h>

#include <algorithm>

#include "dare/error.h"
#include "dare/jsonl.h"
#include "test_util.h"

using namespace dare_test;

namespace {
std::string error_of(const std::string & path) {
    try {
        dare::read_prompts_jsonl(path);
    } catch (const dare::error & e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST(Jsonl, ReadsIdsOfBothKindsAndSkipsBlankLines) {
    temp_dir d;
    write_file(d / "p.jsonl", "{\"id\": 1, \"prompt\": \"a\"}\n\n{\"id\": \"x\", \"prompt\": \"b\", \"extra\": 3}\r\n");
    const auto ps = dare::read_prompts_jsonl(d / "p.jsonl");
    ASSERT_EQ(ps.size(), 2u);
    EXPECT_EQ(ps[0].id, "1");
    EXPECT_TRUE(ps[0].id_json.is_number());
    EXPECT_EQ(ps[1].id, "x");
    EXPECT_EQ(ps[1].prompt, "b");
    EXPECT_EQ(ps[1].line, 3);
}

TEST(Jsonl, MalformedLinesNameFileAndLine) {
    temp_dir d;
    const std::string ok = "{\"id\": 1, \"prompt\": \"a\"}\n";
    write_file(d / "bad.jsonl", ok + ok.substr(0, 10) + "\n");
    EXPECT_NE(error_of(d / "bad.jsonl").find("bad.jsonl:2: invalid JSON"), std::string::npos) << error_of(d / "bad.jsonl");

    write_file(d / "noprompt.jsonl", ok + "\n{\"id\": 2}\n");
    EXPECT_NE(error_of(d / "noprompt.jsonl").find("noprompt.jsonl:3: missing \"prompt\""), std::string::npos);

    write_file(d / "noid.jsonl", "{\"prompt\": \"a\"}\n");
    EXPECT_NE(error_of(d / "noid.jsonl").find("noid.jsonl:1: missing \"id\""), std::string::npos);

    // A number beyond double's range is a JSON error too (found by fuzz_prompts).
    write_file(d / "huge.jsonl", ok + "{\"id\": 2e22222, \"prompt\": \"b\"}\n");
    EXPECT_NE(error_of(d / "huge.jsonl").find("huge.jsonl:2: invalid JSON"), std::string::npos)
        << error_of(d / "huge.jsonl");

    write_file(d / "arr.jsonl", "[1,2]\n");
    EXPECT_NE(error_of(d / "arr.jsonl").find("arr.jsonl:1: expected a JSON object"), std::string::npos);

    write_file(d / "dup.jsonl", ok + ok);
    EXPECT_NE(error_of(d / "dup.jsonl").find("dup.jsonl:2: duplicate id 1"), std::string::npos);

    write_file(d / "empty.jsonl", "\n\n");
    EXPECT_NE(error_of(d / "empty.jsonl").find("no prompts"), std::string::npos);

    EXPECT_NE(error_of(d / "missing.jsonl").find("cannot open prompts file"), std::string::npos);
}

TEST(Jsonl, RecordLogResumesAndRepairsATornLastLine) {
    temp_dir d;
    const std::string path = d / "out.jsonl";
    {
        dare::record_log log(path);
        log.append({{"id", 1}, {"text", "one"}});
        log.append({{"id", "b"}, {"text", "two"}});
    }
    // Simulate a kill in the middle of writing a third record.
    {
        std::ofstream out(path, std::ios::app);
        out << "{\"id\": 3, \"text\": \"thr";
    }
    {
        dare::record_log log(path);
        EXPECT_TRUE(log.repaired_torn_line());
        EXPECT_EQ(log.size(), 2u);
        EXPECT_TRUE(log.contains("1"));
        EXPECT_TRUE(log.contains("b"));
        EXPECT_FALSE(log.contains("3"));
        log.append({{"id", 3}, {"text", "three"}});
    }
    const std::string content = read_file(path);
    EXPECT_EQ(std::count(content.begin(), content.end(), '\n'), 3);
    dare::record_log again(path);
    EXPECT_FALSE(again.repaired_torn_line());
    EXPECT_EQ(again.size(), 3u);
    EXPECT_EQ(again.existing()[2]["text"], "three");
}

TEST(Jsonl, RecordLogRefusesCorruptionInTheMiddle) {
    temp_dir d;
    auto error_of_log = [](const std::string & path) {
        try {
            dare::record_log log(path);
        } catch (const dare::error & e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    write_file(d / "out.jsonl", "{\"id\": 1}\nnot json\n{\"id\": 2}\n");
    EXPECT_NE(error_of_log(d / "out.jsonl").find("out.jsonl:2:"), std::string::npos) << error_of_log(d / "out.jsonl");
    // A number beyond double's range in the middle (found by fuzz_prompts on the prompts reader).
    write_file(d / "big.jsonl", "{\"id\": 1}\n{\"id\": 1e999}\n{\"id\": 2}\n");
    EXPECT_NE(error_of_log(d / "big.jsonl").find("big.jsonl:2:"), std::string::npos) << error_of_log(d / "big.jsonl");
}

TEST(Jsonl, FreshTruncates) {
    temp_dir d;
    write_file(d / "out.jsonl", "{\"id\": 1}\n");
    dare::record_log log(d / "out.jsonl", true);
    EXPECT_EQ(log.size(), 0u);
    log.append({{"id", 2}});
    EXPECT_EQ(read_file(d / "out.jsonl"), "{\"id\":2}\n");
}

// One writer per output: while one output_lock holds an output, another
// (here in the same process, as a second dare process would) is refused with
// the holder's pid; the lock goes with its holder (dare generate on a locked
// output: tests/test_cli.cpp).
TEST(Jsonl, OutputLockAdmitsOneWriter) {
    temp_dir d;
    const std::string out = d / "out.jsonl";
    {
        const dare::output_lock held(out);
        try {
            const dare::output_lock second(out);
            FAIL() << "a second lock on the same output was granted";
        } catch (const dare::error & e) {
            EXPECT_NE(std::string(e.what()).find("another dare process (pid " + std::to_string(getpid()) + ")"),
                      std::string::npos)
                << e.what();
        }
    }
    EXPECT_NO_THROW(dare::output_lock again(out));
}
