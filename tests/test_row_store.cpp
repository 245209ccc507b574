// dare encode's work files: rows and ids append together; reopening keeps
// exactly the rows both files hold in full and cuts what a kill tore.
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "dare/error.h"
#include "dare/row_store.h"
#include "test_util.h"

using namespace dare_test;

namespace {
const std::vector<float> kRow1 = {1, 2, 3}, kRow2 = {4, 5, 6};
}

TEST(RowStore, AppendsAndReopensWithTheSameRows) {
    temp_dir d;
    {
        dare::row_store s(d.str(), "item", 3);
        EXPECT_TRUE(s.ids().empty());
        s.append("a", kRow1);
        s.append("b", kRow2);
    }
    dare::row_store s(d.str(), "item", 3);
    EXPECT_EQ(s.ids(), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(s.all_rows(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

// A kill between a row and its id, inside a row, or inside an id line.
TEST(RowStore, CutsTornRowsAndIds) {
    temp_dir d;
    {
        dare::row_store s(d.str(), "user", 3);
        s.append("a", kRow1);
        s.append("b", kRow2);
    }
    const std::string rows = d / ".user.rows", ids = d / ".user.ids";
    std::filesystem::resize_file(rows, 5 * sizeof(float));  // second row torn
    {
        dare::row_store s(d.str(), "user", 3);
        EXPECT_EQ(s.ids(), std::vector<std::string>{"a"});
        EXPECT_EQ(std::filesystem::file_size(rows), 3 * sizeof(float));
        s.append("c", kRow2);
    }
    write_file(ids, "a\nc");  // last id line torn (no newline)
    {
        dare::row_store s(d.str(), "user", 3);
        EXPECT_EQ(s.ids(), std::vector<std::string>{"a"});
        EXPECT_EQ(read_file(ids), "a\n");
        EXPECT_EQ(s.all_rows(), kRow1);
    }
    write_file(ids, "a\nb\nc\n");  // ids without rows
    dare::row_store s(d.str(), "user", 3);
    EXPECT_EQ(s.ids(), std::vector<std::string>{"a"});
}

TEST(RowStore, RefusesAnEmptyVectorSize) {
    temp_dir d;
    EXPECT_THROW(dare::row_store(d.str(), "item", 0), dare::error);
}
