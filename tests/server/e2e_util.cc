#include "tests/server/e2e_util.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/server/test_util.h"

namespace trilemma::testing {

std::unique_ptr<TrilemmaServer> StartSmallServer() {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "127.0.0.1:0";
  options.scheduler.max_queue_wait = absl::Milliseconds(100);
  const std::vector<EngineSpec> specs = {
      SmallSpec("attention", "attention"),
      SmallSpec("window", "sliding_window", int64_t{64} << 20,
                {{"window", "8"}}),
      SmallSpec("tiny", "attention",
                kAttentionFixedBytes + kAttentionBlockBytes),
  };
  absl::StatusOr<std::unique_ptr<TrilemmaServer>> server =
      TrilemmaServer::Start(specs, options);
  if (!server.ok()) {
    ADD_FAILURE() << server.status();
    return nullptr;
  }
  return *std::move(server);
}

std::unique_ptr<v1::Trilemma::Stub> Connect(const TrilemmaServer& server) {
  return v1::Trilemma::NewStub(grpc::CreateChannel(
      server.address(), grpc::InsecureChannelCredentials()));
}

std::map<std::string, double> ParseMetrics(const std::string& text) {
  std::map<std::string, double> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos ||
        !absl::SimpleAtod(line.substr(space + 1), &value)) {
      continue;
    }
    samples[std::string{line.substr(0, space)}] = value;
  }
  return samples;
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + kWait));
}

GenerateResult RunGenerate(v1::Trilemma::Stub& stub,
                           const v1::GenerateRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context);
  GenerateResult result;
  auto reader = stub.Generate(&context, request);
  v1::GenerateEvent event;
  while (reader->Read(&event)) {
    if (!result.summaries.empty()) result.out_of_order = true;
    if (event.has_token()) result.tokens.push_back(event.token());
    if (event.has_summary()) result.summaries.push_back(event.summary());
  }
  result.status = reader->Finish();
  return result;
}

v1::GenerateRequest MakeGenerate(const std::string& engine,
                                 const std::vector<int32_t>& prompt,
                                 int32_t max_new_tokens) {
  v1::GenerateRequest request;
  request.set_engine(engine);
  for (int32_t t : prompt) request.add_prompt(t);
  request.set_max_new_tokens(max_new_tokens);
  return request;
}

SessionClient::SessionClient(v1::Trilemma::Stub& stub) {
  SetDeadline(&context_);
  stream_ = stub.Session(&context_);
}

SessionClient::~SessionClient() {
  if (!finished_) {
    context_.TryCancel();
    Close();
  }
}

bool SessionClient::Send(const v1::SessionRequest& request) {
  return stream_->Write(request);
}

std::optional<v1::SessionEvent> SessionClient::Next() {
  v1::SessionEvent event;
  if (finished_ || !stream_->Read(&event)) return std::nullopt;
  return event;
}

std::optional<v1::Summary> SessionClient::NextSummary(
    std::vector<int32_t>* tokens) {
  for (;;) {
    std::optional<v1::SessionEvent> event = Next();
    if (!event) return std::nullopt;
    if (event->has_token() && tokens != nullptr) {
      tokens->push_back(event->token().token());
    }
    if (event->has_summary()) return event->summary();
  }
}

grpc::Status SessionClient::Close() {
  if (finished_) return status_;
  stream_->WritesDone();
  v1::SessionEvent event;
  while (stream_->Read(&event)) {
  }
  status_ = stream_->Finish();
  finished_ = true;
  return status_;
}

bool SessionClient::Open(const std::string& engine, const v1::Limits& limits) {
  v1::SessionRequest request;
  request.mutable_open()->set_engine(engine);
  *request.mutable_open()->mutable_limits() = limits;
  if (!Send(request)) return false;
  std::optional<v1::SessionEvent> event = Next();
  return event && event->has_opened();
}

std::optional<v1::Summary> SessionClient::Append(
    const std::vector<int32_t>& tokens) {
  v1::SessionRequest request;
  for (int32_t t : tokens) request.mutable_append()->add_tokens(t);
  if (!Send(request)) return std::nullopt;
  return NextSummary();
}

std::optional<v1::Summary> SessionClient::Generate(
    const std::vector<int32_t>& prompt, int32_t max_new_tokens,
    std::vector<int32_t>* tokens, const std::vector<int32_t>& expected) {
  v1::SessionRequest request;
  v1::GenerateTurn* turn = request.mutable_generate();
  for (int32_t t : prompt) turn->add_prompt(t);
  turn->set_max_new_tokens(max_new_tokens);
  if (!expected.empty()) {
    for (int32_t t : expected) turn->mutable_probe()->add_expected(t);
    turn->mutable_probe()->set_distance(1);
  }
  if (!Send(request)) return std::nullopt;
  return NextSummary(tokens);
}

}  // namespace trilemma::testing
