// run.json: a rerun with other settings is refused with every change named,
// unless forced; an unreadable file is a clear error; the model is read back.
#include <gtest/gtest.h>

#include "dare/error.h"
#include "dare/run_settings.h"
#include "test_util.h"

using namespace dare_test;
using nlohmann::json;

TEST(RunSettings, MissingFileIsNoSettings) {
    temp_dir d;
    EXPECT_EQ(dare::read_run_settings(d / "run.json"), json::object());
    EXPECT_NO_THROW(dare::check_run_settings(d / "run.json", json{{"mode", "dare"}}, false));
    EXPECT_EQ(dare::run_model_file(d.str()), "");
}

TEST(RunSettings, ChangedSettingsAreNamedAndRefusedUnlessForced) {
    temp_dir d;
    write_file(d / "run.json", R"({"mode": "dare", "max_tokens": 128, "model": "m.gguf"})");
    EXPECT_EQ(dare::run_model_file(d.str()), "m.gguf");
    EXPECT_NO_THROW(dare::check_run_settings(
        d / "run.json", json{{"mode", "dare"}, {"max_tokens", 128}, {"model", "m.gguf"}}, false));
    try {
        dare::check_run_settings(
            d / "run.json", json{{"mode", "vanilla"}, {"max_tokens", 128}, {"model", "m.gguf"}, {"seed", 1}}, false);
        FAIL() << "changed settings accepted";
    } catch (const dare::error & e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("mode: was \"dare\", now \"vanilla\""), std::string::npos) << what;
        EXPECT_NE(what.find("seed: was unset, now 1"), std::string::npos) << what;
        EXPECT_EQ(what.find("max_tokens"), std::string::npos) << what;
        EXPECT_NE(what.find("--force"), std::string::npos) << what;
    }
    EXPECT_NO_THROW(dare::check_run_settings(d / "run.json", json{{"mode", "vanilla"}}, true));
}

// A setting the earlier run had and this one leaves unset (an option such as
// --chat-template given before and not now) is a change too.
TEST(RunSettings, RemovedSettingIsAChange) {
    temp_dir d;
    write_file(d / "run.json", R"({"mode": "dare", "chat_template": "chatml"})");
    try {
        dare::check_run_settings(d / "run.json", json{{"mode", "dare"}}, false);
        FAIL() << "removed setting accepted";
    } catch (const dare::error & e) {
        EXPECT_NE(std::string(e.what()).find("chat_template: was \"chatml\", now unset"), std::string::npos) << e.what();
    }
    const json before = {{"mode", "dare"}, {"seed", 1}, {"top_items", 50}};
    const json now = {{"mode", "vanilla"}, {"seed", 2}};
    EXPECT_EQ(dare::settings_diff(before, now),
              "\n  mode: was \"dare\", now \"vanilla\"\n  seed: was 1, now 2\n  top_items: was 50, now unset");
    EXPECT_EQ(dare::settings_diff(before, now, [](const std::string & k) { return k != "mode"; }),
              "\n  mode: was \"dare\", now \"vanilla\"");
    EXPECT_EQ(dare::settings_diff(before, before), "");
}

TEST(RunSettings, UnreadableFileIsAClearError) {
    temp_dir d;
    for (const char * bad : {"{\"mode\": ", "[1, 2]", "", "\xff\xfe"}) {
        write_file(d / "run.json", bad);
        try {
            dare::check_run_settings(d / "run.json", json{{"mode", "dare"}}, false);
            ADD_FAILURE() << "accepted: " << bad;
        } catch (const dare::error & e) {
            EXPECT_NE(std::string(e.what()).find("run.json: unreadable run settings"), std::string::npos) << e.what();
        }
        EXPECT_THROW(dare::run_model_file(d.str()), dare::error);
    }
}
