// `trilemma load --api=openai`: the same load (arrival processes, workloads,
// records, hence the same percentiles, goodput and recall tables) against
// any OpenAI-compatible completions server, recall scored client-side from
// the returned text (docs/http.md).
//
// Example:
//   OpenAiTarget target = *ParseOpenAiTarget("http://127.0.0.1:8000", "");
//   LoadRunOptions options{.engines = models, .concurrency = 8,
//                          .max_requests = 64, .seed = 7};
//   absl::StatusOr<LoadRun> run = RunOpenAiLoad(target, options, nullptr);
//
// How each plan travels: a Generate plan (niah, random) is one streamed
// completion with the plan's token prompt. A Session plan (mqar) has no
// server-side session to hold its state, so each query turn is one
// completion whose prompt is the whole context a Session would hold at that
// point: the stored pairs, then every earlier query with the answer the
// server gave, then the query. With greedy decoding the engine sees exactly
// the tokens the gRPC Session fed it, so recall matches `--api=grpc`.
// A probe hits when the text parses as token IDs (a tokenizer-less engine's
// answer, "17 42") that start with the expected ones.
//
// Threads: one dispatcher, `concurrency` workers (closed loop) or up to
// `max_in_flight` (open loop, at most 256), each with its own keep-alive
// connection, and an optional progress thread.
#ifndef TRILEMMA_CLIENT_LOAD_OPENAI_LOAD_H_
#define TRILEMMA_CLIENT_LOAD_OPENAI_LOAD_H_

#include "absl/status/statusor.h"
#include "client/load/openai_client.h"
#include "client/load/runner.h"

namespace trilemma::client {

// Like RunLoad; `options.engines` are the target's models (their vocab
// sizes the token workloads).
absl::StatusOr<LoadRun> RunOpenAiLoad(const OpenAiTarget& target,
                                      const LoadRunOptions& options,
                                      const LoadProgressFn& progress);

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_LOAD_OPENAI_LOAD_H_
