// Progress line content.
#include <gtest/gtest.h>

#include "dare/progress.h"

TEST(Progress, LineShowsDoneTotalSpeedTauAndEta) {
    dare::progress p("generate", 10, 2, 1e9);
    p.record_done(30, 10);
    const std::string l = p.line();
    EXPECT_NE(l.find("3/10 records"), std::string::npos) << l;
    EXPECT_NE(l.find("tau 3.00"), std::string::npos) << l;
    EXPECT_NE(l.find("tok/s"), std::string::npos) << l;
    EXPECT_NE(l.find("ETA"), std::string::npos) << l;
}

TEST(Progress, JobsWithoutForwardPassesShowNoTau) {
    dare::progress p("encode", 4, 0, 1e9);
    p.record_done(120, 0);
    const std::string l = p.line();
    EXPECT_NE(l.find("1/4 records"), std::string::npos) << l;
    EXPECT_EQ(l.find("tau"), std::string::npos) << l;
}
