// An in-process TrilemmaServer with small engines on free ports, and thin
// synchronous clients for its RPCs (every call with a deadline).
#ifndef TRILEMMA_TESTS_SERVER_E2E_UTIL_H_
#define TRILEMMA_TESTS_SERVER_E2E_UTIL_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "server/server.h"
#include "trilemma/v1/trilemma.grpc.pb.h"

namespace trilemma::testing {

// Bytes of the small attention engine's fixed state and of one KV block.
inline constexpr int64_t kAttentionFixedBytes = 4 * 32;
inline constexpr int64_t kAttentionBlockBytes = 16 * 2 * 32 * 4;

// Hosts "attention" (64 MiB budget), "window" (sliding_window, W = 8) and
// "tiny" (attention with room for one KV block) on 127.0.0.1 port 0, metrics
// on port 0, with a 100 ms admission wait.
std::unique_ptr<TrilemmaServer> StartSmallServer();

std::unique_ptr<v1::Trilemma::Stub> Connect(const TrilemmaServer& server);

// Prometheus text exposition as {"name{labels}": value}.
std::map<std::string, double> ParseMetrics(const std::string& text);

// Sets a generous deadline (a hang guard).
void SetDeadline(grpc::ClientContext* context);

struct GenerateResult {
  std::vector<v1::TokenEvent> tokens;
  std::vector<v1::Summary> summaries;
  grpc::Status status;
  // An event after the summary, or a summary before a token.
  bool out_of_order = false;
};
GenerateResult RunGenerate(v1::Trilemma::Stub& stub,
                           const v1::GenerateRequest& request);

v1::GenerateRequest MakeGenerate(const std::string& engine,
                                 const std::vector<int32_t>& prompt,
                                 int32_t max_new_tokens);

// One Session stream, driven request by request.
class SessionClient {
 public:
  explicit SessionClient(v1::Trilemma::Stub& stub);
  ~SessionClient();

  bool Send(const v1::SessionRequest& request);
  // The next event; nullopt once the stream ended.
  std::optional<v1::SessionEvent> Next();
  // Reads events through the next Summary (collecting tokens on the way).
  std::optional<v1::Summary> NextSummary(
      std::vector<int32_t>* tokens = nullptr);
  // Half-closes and returns the final status (events left are skipped).
  grpc::Status Close();
  void Cancel() { context_.TryCancel(); }

  bool Open(const std::string& engine, const v1::Limits& limits = {});
  std::optional<v1::Summary> Append(const std::vector<int32_t>& tokens);
  std::optional<v1::Summary> Generate(
      const std::vector<int32_t>& prompt, int32_t max_new_tokens,
      std::vector<int32_t>* tokens = nullptr,
      const std::vector<int32_t>& expected = {});

 private:
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::SessionRequest, v1::SessionEvent>>
      stream_;
  bool finished_ = false;
  grpc::Status status_;
};

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_SERVER_E2E_UTIL_H_
