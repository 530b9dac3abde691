// The engine families and default presets this tree ships, written out by
// hand: tests compare the registry and the server's default engine list with
// these fixed lists instead of with the registry itself, so a family whose
// folder stops registering, a renamed preset or a changed order fails.
//
// Example:
//   EXPECT_THAT(Names(DefaultEngineSpecs()),
//               ElementsAreArray(testing::kExpectedDefaultPresets));
//
// Adding or renaming a family or preset means editing these lists (and the
// README's engine table).
#ifndef TRILEMMA_TESTS_EXPECTED_ENGINES_H_
#define TRILEMMA_TESTS_EXPECTED_ENGINES_H_

#include <string_view>

namespace trilemma::testing {

// Every registered family, hidden ones included, sorted by name (the order
// of RegisteredEngineFamilies()).
inline constexpr std::string_view kExpectedFamilies[] = {
    "attention",        "delta_net", "gated_deltanet", "hybrid", "kv_evict",
    "linear_attention", "mamba",     "mamba2",         "memory", "null",
    "rwkv7",            "sliding_window"};

// The presets a server hosts by default, in display order (the README's
// engine table).
inline constexpr std::string_view kExpectedDefaultPresets[] = {
    "attention",
    "attention_int8",
    "attention_int4",
    "sliding_window",
    "kv_evict_sinks",
    "kv_evict_h2o",
    "linear_attention",
    "linear_attention_taylor2",
    "mamba",
    "mamba2",
    "delta_net",
    "gated_deltanet",
    "rwkv7",
    "hybrid_based",
    "hybrid_jamba",
    "memory",
    "memory_exact"};

// Presets of hidden families: hosted only when asked for by name.
inline constexpr std::string_view kExpectedHiddenPresets[] = {"null"};

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_EXPECTED_ENGINES_H_
