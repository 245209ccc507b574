// Graceful stop: a recorded SIGINT/SIGTERM makes throw_if_stopped() and every
// decoding loop throw dare::interrupted carrying the signal (the CLI's exit
// codes and the rerun are tested end to end in test_pipeline.cpp).
#include <gtest/gtest.h>

#include <csignal>

#include "dare/signals.h"
#include "test_util.h"

using namespace dare_test;

TEST(Signals, NoStopUntilOneIsRequested) {
    dare::clear_stop();
    EXPECT_EQ(dare::stop_signal(), 0);
    EXPECT_NO_THROW(dare::throw_if_stopped());
}

TEST(Signals, RequestedStopThrowsWithTheSignal) {
    dare::request_stop(SIGTERM);
    try {
        dare::throw_if_stopped();
        ADD_FAILURE() << "no exception";
    } catch (const dare::interrupted & e) {
        EXPECT_EQ(e.signal, SIGTERM);
        EXPECT_STREQ(e.what(), "interrupted by SIGTERM");
    }
    dare::clear_stop();
    EXPECT_NO_THROW(dare::throw_if_stopped());
}

// The installed handler records a real signal instead of ending the process.
TEST(Signals, HandlerRecordsTheSignal) {
    dare::clear_stop();
    dare::install_stop_handlers();
    ASSERT_EQ(std::raise(SIGINT), 0);
    EXPECT_EQ(dare::stop_signal(), SIGINT);
    EXPECT_THROW(dare::throw_if_stopped(), dare::interrupted);
    dare::clear_stop();
}

#ifndef DARE_MODEL_FREE  // needs the bundled model
// A decoding loop checks once per step: with a stop requested, generation
// throws before producing a token.
TEST(Signals, DecodingStopsAtTheNextStep) {
    const dare::model & m = default_model();
    dare::context ctx(m, test_context());
    dare::vanilla_decoder dec(ctx);
    dare::generation_options g;
    g.max_tokens = 8;
    dare::request_stop(SIGINT);
    EXPECT_THROW(dec.generate(m.prompt_tokens("Introduce movie Heat (1995)."), g), dare::interrupted);
    dare::clear_stop();
    EXPECT_FALSE(dec.generate(m.prompt_tokens("Introduce movie Heat (1995)."), g).tokens.empty());
}
#endif
