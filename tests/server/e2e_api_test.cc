// End to end over a real gRPC channel: ListEngines, invalid inputs (code and
// a message naming the field), health checking, reflection and a scrape of
// /metrics parsed for every family with engine labels.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "tests/server/e2e_util.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using ::testing::HasSubstr;
using testing::MakeGenerate;
using testing::RunGenerate;
using testing::SessionClient;

class E2EApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = testing::StartSmallServer().release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Trilemma::NewStub(channel_);
  }

  // A unary call with raw request bytes through the generic stub.
  grpc::Status RawUnary(const std::string& method, const std::string& request,
                        std::string* response) {
    grpc::GenericStub generic(channel_);
    grpc::ClientContext context;
    testing::SetDeadline(&context);
    grpc::CompletionQueue cq;
    grpc::Slice slice(request);
    grpc::ByteBuffer request_buffer(&slice, 1);
    auto call = generic.PrepareUnaryCall(&context, method, request_buffer, &cq);
    call->StartCall();
    grpc::ByteBuffer response_buffer;
    grpc::Status status;
    call->Finish(&response_buffer, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    std::vector<grpc::Slice> slices;
    if (status.ok() && response_buffer.Dump(&slices).ok()) {
      for (const grpc::Slice& s : slices) {
        response->append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    return status;
  }

  void ExpectInvalid(const v1::GenerateRequest& request, grpc::StatusCode code,
                     const std::string& field) {
    const testing::GenerateResult r = RunGenerate(*stub_, request);
    EXPECT_EQ(r.status.error_code(), code) << request.ShortDebugString();
    EXPECT_THAT(r.status.error_message(), HasSubstr(field))
        << request.ShortDebugString();
    EXPECT_TRUE(r.tokens.empty());
    EXPECT_TRUE(r.summaries.empty());
  }

  // Sends `requests` on a fresh Session and returns its final status.
  grpc::Status SessionStatus(const std::vector<v1::SessionRequest>& requests) {
    SessionClient session(*stub_);
    for (const v1::SessionRequest& request : requests) {
      if (!session.Send(request)) break;
    }
    return session.Close();
  }

  static TrilemmaServer* server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Trilemma::Stub> stub_;
};

TrilemmaServer* E2EApiTest::server_ = nullptr;

TEST_F(E2EApiTest, ListEnginesDescribesEveryHostedEngine) {
  grpc::ClientContext context;
  testing::SetDeadline(&context);
  v1::ListEnginesResponse response;
  ASSERT_TRUE(stub_->ListEngines(&context, {}, &response).ok());
  ASSERT_EQ(response.engines_size(), 3);
  EXPECT_EQ(response.engines(0).name(), "attention");
  EXPECT_EQ(response.engines(1).name(), "window");
  EXPECT_EQ(response.engines(1).family(), "sliding_window");
  EXPECT_EQ(response.engines(1).shape().window(), 8);
  EXPECT_EQ(response.engines(2).state_budget_bytes(),
            testing::kAttentionFixedBytes + testing::kAttentionBlockBytes);
  for (const v1::EngineInfo& info : response.engines()) {
    EXPECT_EQ(info.shape().vocab(), testing::kVocab);
    EXPECT_EQ(info.shape().d_model(), 32);
  }
  EXPECT_TRUE(response.engines(0).corners().recall());
  EXPECT_TRUE(response.engines(1).corners().compact());
}

TEST_F(E2EApiTest, InvalidGenerateRequestsNameTheField) {
  constexpr auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;
  ExpectInvalid(
      MakeGenerate("nope", {1}, 1), kInvalid,
      "engine: unknown engine 'nope'; hosted: attention, window, tiny");
  ExpectInvalid(MakeGenerate("attention", {1, 256}, 1), kInvalid,
                "prompt[1]: token 256 >= vocab 256");
  ExpectInvalid(MakeGenerate("attention", {-3}, 1), kInvalid, "prompt[0]");
  ExpectInvalid(MakeGenerate("attention", {}, 1), kInvalid, "prompt");
  ExpectInvalid(MakeGenerate("attention", {1}, 65537), kInvalid,
                "max_new_tokens");
  ExpectInvalid(MakeGenerate("attention", {1}, -1), kInvalid, "max_new_tokens");

  v1::GenerateRequest r = MakeGenerate("attention", {1}, 1);
  r.mutable_limits()->set_max_state_bytes(-1);
  ExpectInvalid(r, kInvalid, "limits.max_state_bytes");
  r = MakeGenerate("attention", {1}, 1);
  r.mutable_limits()->set_max_context_tokens(-5);
  ExpectInvalid(r, kInvalid, "limits.max_context_tokens");
  r = MakeGenerate("attention", {1}, 1);
  r.mutable_sampling()->set_temperature(101);
  ExpectInvalid(r, kInvalid, "sampling.temperature");
  r = MakeGenerate("attention", {1}, 1);
  r.mutable_sampling()->set_top_k(-1);
  ExpectInvalid(r, kInvalid, "sampling.top_k");
  r = MakeGenerate("attention", {1}, 1);
  r.mutable_probe()->set_distance(3);  // a probe without expected tokens
  ExpectInvalid(r, kInvalid, "probe.expected");
  r = MakeGenerate("attention", {1}, 1);
  r.mutable_probe()->add_expected(1);
  r.mutable_probe()->add_expected(2);
  ExpectInvalid(r, kInvalid, "probe.expected: 2 expected tokens");
  r = MakeGenerate("attention", {1}, 1);
  r.mutable_probe()->add_expected(999);
  ExpectInvalid(r, kInvalid, "probe.expected[0]: token 999");
}

TEST_F(E2EApiTest, SessionProtocolAndContentErrors) {
  v1::SessionRequest open;
  open.mutable_open()->set_engine("attention");
  v1::SessionRequest append;
  append.mutable_append()->add_tokens(1);
  v1::SessionRequest generate;
  generate.mutable_generate()->add_prompt(1);
  v1::SessionRequest close;
  close.mutable_close();

  struct Case {
    std::vector<v1::SessionRequest> requests;
    grpc::StatusCode code;
    std::string message;
  };
  v1::SessionRequest bad_engine;
  bad_engine.mutable_open()->set_engine("nope");
  v1::SessionRequest bad_limits = open;
  bad_limits.mutable_open()->mutable_limits()->set_max_context_tokens(-1);
  v1::SessionRequest bad_token;
  bad_token.mutable_append()->add_tokens(256);
  v1::SessionRequest empty_append;
  empty_append.mutable_append();
  v1::SessionRequest too_many = generate;
  too_many.mutable_generate()->set_max_new_tokens(70000);
  v1::SessionRequest bad_sampling = generate;
  bad_sampling.mutable_generate()->mutable_sampling()->set_temperature(-1);
  v1::SessionRequest empty_generate;
  empty_generate.mutable_generate();

  constexpr auto kPrecondition = grpc::StatusCode::FAILED_PRECONDITION;
  constexpr auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;
  const std::vector<Case> cases = {
      {{append}, kPrecondition, "append: the first message"},
      {{generate}, kPrecondition, "generate: the first message"},
      {{close}, kPrecondition, "close: no session is open"},
      {{open, open}, kPrecondition, "open: the session is already open"},
      {{v1::SessionRequest()}, kInvalid, "request: empty SessionRequest"},
      {{bad_engine}, kInvalid, "open.engine: unknown engine 'nope'"},
      {{bad_limits}, kInvalid, "open.limits.max_context_tokens"},
      {{open, bad_token}, kInvalid, "append.tokens[0]: token 256 >= vocab"},
      {{open, empty_append}, kInvalid, "append.tokens"},
      {{open, too_many}, kInvalid, "generate.max_new_tokens"},
      {{open, bad_sampling}, kInvalid, "generate.sampling.temperature"},
      {{open, empty_generate}, kInvalid, "generate.prompt"},
  };
  for (const Case& c : cases) {
    const grpc::Status status = SessionStatus(c.requests);
    EXPECT_EQ(status.error_code(), c.code) << c.message;
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
  }
}

TEST_F(E2EApiTest, HealthCheckServes) {
  std::string response;
  // HealthCheckRequest{} is empty; HealthCheckResponse{status: SERVING} is
  // field 1 varint 1.
  ASSERT_TRUE(RawUnary("/grpc.health.v1.Health/Check", "", &response).ok());
  EXPECT_EQ(response, std::string("\x08\x01", 2));
  response.clear();
  const std::string service = "trilemma.v1.Trilemma";
  const std::string request =
      absl::StrCat(std::string(1, '\x0a'),
                   std::string(1, static_cast<char>(service.size())), service);
  ASSERT_TRUE(
      RawUnary("/grpc.health.v1.Health/Check", request, &response).ok());
  EXPECT_EQ(response, std::string("\x08\x01", 2));
}

TEST_F(E2EApiTest, ReflectionListsTheService) {
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  testing::SetDeadline(&context);
  grpc::CompletionQueue cq;
  auto call = generic.PrepareCall(
      &context,
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto next = [&] { return cq.Next(&tag, &ok) && ok; };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(next());
  // ServerReflectionRequest{list_services: ""}: field 7, length 0.
  grpc::Slice slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(next());
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  ASSERT_TRUE(next());
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_THAT(bytes, HasSubstr("trilemma.v1.Trilemma"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));
  call->WritesDone(reinterpret_cast<void*>(4));
  next();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// Sample lines of a Prometheus text exposition: "name{labels}" -> value.
TEST_F(E2EApiTest, MetricsExposeEveryFamilyWithEngineLabels) {
  // Some traffic on "window": a generate, a probed session turn, a refusal.
  ASSERT_TRUE(
      RunGenerate(*stub_, MakeGenerate("window", {1, 2, 3}, 5)).status.ok());
  {
    SessionClient session(*stub_);
    ASSERT_TRUE(session.Open("window"));
    ASSERT_TRUE(session.Append({10, 140, 11, 141}).has_value());
    ASSERT_TRUE(session.Generate({10}, 1, nullptr, {140}).has_value());
    EXPECT_TRUE(session.Close().ok());
  }
  RunGenerate(*stub_, MakeGenerate("window", {999}, 1));

  absl::StatusOr<std::string> body =
      testing::HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  const std::map<std::string, double> samples = testing::ParseMetrics(*body);
  const std::vector<std::string> server_wide =
      ServerMetrics::ServerWideFamilyNames();
  for (const std::string& family : ServerMetrics::FamilyNames()) {
    if (absl::c_linear_search(server_wide, family)) continue;
    bool found = false;
    for (const auto& [name, value] : samples) {
      if (name.rfind(family, 0) == 0 &&
          name.find("engine=\"window\"") != std::string::npos) {
        found = true;
        break;
      }
    }
    EXPECT_TRUE(found) << family << " has no sample labelled engine=window";
  }
  auto value = [&](const std::string& name) {
    auto it = samples.find(name);
    return it == samples.end() ? -1.0 : it->second;
  };
  EXPECT_GE(value("trilemma_generated_tokens_total{engine=\"window\"}"), 6);
  EXPECT_GE(value("trilemma_prompt_tokens_total{engine=\"window\"}"), 8);
  EXPECT_GT(value("trilemma_flops_total{engine=\"window\"}"), 0);
  EXPECT_GE(value("trilemma_requests_total{engine=\"window\",outcome="
                  "\"length\",protocol=\"grpc\"}"),
            2);
  EXPECT_GE(value("trilemma_requests_total{engine=\"window\",outcome="
                  "\"appended\",protocol=\"grpc\"}"),
            1);
  EXPECT_GE(value("trilemma_requests_total{engine=\"window\",outcome="
                  "\"invalid\",protocol=\"grpc\"}"),
            1);
  EXPECT_EQ(
      value("trilemma_recall_probes_total{engine=\"window\",result=\"hit\"}") +
          value("trilemma_recall_probes_total{engine=\"window\",result="
                "\"miss\"}"),
      1);
  EXPECT_EQ(value("trilemma_recall_context_tokens_count{engine=\"window\","
                  "result=\"hit\"}") +
                value("trilemma_recall_context_tokens_count{engine=\"window\","
                      "result=\"miss\"}"),
            1);
  EXPECT_GE(value("trilemma_step_batch_size_count{engine=\"window\"}"), 6);
  EXPECT_EQ(value("trilemma_state_budget_bytes{engine=\"window\"}"),
            static_cast<double>(int64_t{64} << 20));
  EXPECT_EQ(value("trilemma_engine_info{compact=\"true\",efficient=\"true\","
                  "engine=\"window\",family=\"sliding_window\",recall="
                  "\"false\"}"),
            1);
  EXPECT_GE(value("trilemma_state_bytes{engine=\"window\",tier=\"model\"}"), 0);
  EXPECT_EQ(value("trilemma_state_bytes{engine=\"window\",tier=\"external\"}"),
            0);
  EXPECT_GE(value("trilemma_time_to_first_token_seconds_count{engine="
                  "\"window\"}"),
            2);
  for (const auto& [name, v] : samples) {
    EXPECT_EQ(name.find("request_id"), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace trilemma
