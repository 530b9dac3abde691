// The HTTP endpoint served over a real socket (HttpServer + EngineHost with
// small built-in engines), driven by cpp-httplib's client: the JSON and SSE
// shapes, each error status, a client that disconnects mid-stream (its state
// is freed), draining, and HTTPS with bearer tokens.
#include <memory>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/engine_host.h"
#include "server/http/http_server.h"
#include "server/metrics.h"
#include "tests/server/test_certs.h"
#include "tests/server/test_util.h"

namespace trilemma {
namespace {

using nlohmann::json;

class HttpEndpointTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options = {}, SchedulerOptions scheduler = {}) {
    absl::StatusOr<std::unique_ptr<EngineHost>> host =
        EngineHost::Create({testing::SmallSpec("attention", "attention"),
                            testing::SmallSpec("mamba", "mamba")},
                           &metrics_, scheduler);
    ASSERT_TRUE(host.ok()) << host.status();
    host_ = *std::move(host);
    options.listen = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<HttpServer>> http =
        HttpServer::Start(options, host_.get(), metrics_.registry().get());
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = *std::move(http);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", http_->port());
  }

  void TearDown() override {
    if (http_ != nullptr) http_->Stop();
    if (host_ != nullptr) host_->Stop();
  }

  httplib::Result Post(const json& body) {
    return client_->Post("/v1/completions", body.dump(), "application/json");
  }

  // The SSE `data:` payloads of a streamed reply, in order.
  static std::vector<std::string> Events(const std::string& body) {
    std::vector<std::string> events;
    for (absl::string_view event : absl::StrSplit(body, "\n\n")) {
      if (event.empty()) continue;
      EXPECT_EQ(event.substr(0, 6), "data: ") << event;
      events.emplace_back(event.substr(6));
    }
    return events;
  }

  EngineMetrics& Metrics(const std::string& engine) {
    return metrics_.ForEngine(host_->FindHosted(engine)->engine->info());
  }

  ServerMetrics metrics_;
  std::unique_ptr<EngineHost> host_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpEndpointTest, ModelsListsEveryEngine) {
  Start();
  httplib::Result r = client_->Get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const json body = json::parse(r->body);
  EXPECT_EQ(body["object"], "list");
  ASSERT_EQ(body["data"].size(), 2u);
  EXPECT_EQ(body["data"][0]["id"], "attention");
  EXPECT_EQ(body["data"][0]["trilemma"]["vocab"], testing::kVocab);
}

TEST_F(HttpEndpointTest, CompletionAnswersWithTokenIdsAndCost) {
  Start();
  httplib::Result r = Post({{"model", "attention"},
                            {"prompt", {3, 100, 5, 120, 3}},
                            {"max_tokens", 3},
                            {"temperature", 0}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  const std::string text = body["choices"][0]["text"];
  const std::vector<std::string> ids = absl::StrSplit(text, ' ');
  ASSERT_EQ(ids.size(), 3u) << text;
  EXPECT_EQ(ids[0], "100");  // recalls the value stored after key 3
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(body["usage"]["completion_tokens"], 3);
  EXPECT_GT(body["trilemma"]["flops"].get<int64_t>(), 0);
  EXPECT_GT(body["trilemma"]["peak_state_bytes"].get<int64_t>(), 0);
}

TEST_F(HttpEndpointTest, StreamIsSseChunksThenUsageThenDone) {
  Start();
  const json request = {{"model", "mamba"},
                        {"prompt", {3, 100, 5, 120, 3}},
                        {"max_tokens", 4},
                        {"temperature", 0}};
  httplib::Result whole = Post(request);
  ASSERT_TRUE(whole);
  json streamed = request;
  streamed["stream"] = true;
  streamed["stream_options"] = {{"include_usage", true}};
  httplib::Result r = Post(streamed);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  const std::vector<std::string> events = Events(r->body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::string finish;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const json chunk = json::parse(events[i]);
    text += chunk["choices"][0]["text"].get<std::string>();
    if (!chunk["choices"][0]["finish_reason"].is_null()) {
      finish = chunk["choices"][0]["finish_reason"];
    }
  }
  EXPECT_EQ(text, json::parse(whole->body)["choices"][0]["text"]);
  EXPECT_EQ(finish, "length");
  const json usage = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 4);
}

TEST_F(HttpEndpointTest, ErrorsCarryTheirHttpStatus) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  Start(options);
  struct Case {
    json body;
    int status;
    const char* param;
  };
  const std::vector<Case> cases = {
      {{{"model", "attention"}, {"prompt", {1}}, {"max_tokens", 0}},
       400,
       "max_tokens"},
      {{{"model", "attention"}, {"prompt", {1, 100000}}}, 400, "prompt[1]"},
      {{{"model", "attention"}, {"prompt", "text"}}, 400, "prompt"},
      {{{"model", "nope"}, {"prompt", {1}}}, 404, "model"},
  };
  for (const Case& c : cases) {
    httplib::Result r = Post(c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.body.dump() << " " << r->body;
    const json error = json::parse(r->body)["error"];
    EXPECT_EQ(error["param"], c.param) << r->body;
    EXPECT_FALSE(error["message"].get<std::string>().empty());
  }
  httplib::Result big = client_->Post(
      "/v1/completions", std::string(2048, ' ') + "{}", "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(json::parse(big->body)["error"]["code"], "request_too_large");
  httplib::Result bad_json =
      client_->Post("/v1/completions", "{not json", "application/json");
  ASSERT_TRUE(bad_json);
  EXPECT_EQ(bad_json->status, 400);
  httplib::Result unknown = client_->Get("/v1/chat");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(HttpEndpointTest, TopPNarrowsSamplingToTheNucleus) {
  Start();
  auto text = [&](double temperature, double top_p, int seed) {
    httplib::Result r = Post({{"model", "attention"},
                              {"prompt", {3, 100, 5, 120, 3}},
                              {"max_tokens", 8},
                              {"temperature", temperature},
                              {"top_p", top_p},
                              {"seed", seed}});
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no reply");
    return r ? json::parse(r->body)["choices"][0]["text"].get<std::string>()
             : std::string();
  };
  const std::string greedy = text(0, 1, 0);
  // A nucleus of one token is greedy at any temperature and seed.
  for (int seed : {1, 2, 3}) EXPECT_EQ(text(2, 1e-6, seed), greedy);
  // The whole distribution at T = 2 strays from it for some seed.
  bool strayed = false;
  for (int seed = 1; seed <= 5 && !strayed; ++seed) {
    strayed = text(2, 1, seed) != greedy;
  }
  EXPECT_TRUE(strayed);
  httplib::Result bad =
      Post({{"model", "attention"}, {"prompt", {1}}, {"top_p", 0}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body)["error"]["param"], "top_p");
}

TEST_F(HttpEndpointTest, FullEngineAnswers429AndDrainAnswers503) {
  SchedulerOptions scheduler;
  scheduler.max_running = 1;
  scheduler.max_waiting = 0;
  Start({}, scheduler);
  // A long stream holds the only running slot until the client leaves.
  httplib::Client holder("127.0.0.1", http_->port());
  std::atomic<int> chunks{0};
  std::atomic<bool> release{false};
  std::thread stream([&] {
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = json{
        {"model", "attention"},
        {"prompt", {3, 100, 3}},
        {"max_tokens", 60000},
        {"stream",
         true}}.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
      ++chunks;
      return !release.load();  // then disconnect
    };
    httplib::Response res;
    httplib::Error error;
    holder.send(req, res, error);
  });
  // Disconnects the holder on every path out of the test.
  absl::Cleanup join = [&] {
    release.store(true);
    if (stream.joinable()) stream.join();
  };
  const absl::Time give_up = absl::Now() + testing::kWait;
  while (chunks.load() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_GT(chunks.load(), 0);
  httplib::Result refused = Post({{"model", "attention"}, {"prompt", {1}}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429) << refused->body;
  EXPECT_NE(refused->body.find("max_waiting"), std::string::npos);
  std::move(join).Invoke();

  // The disconnected stream's session is ended and its state freed.
  EngineMetrics& m = Metrics("attention");
  while ((m.active_sessions.Value() != 0 || m.model_state_bytes.Value() != 0) &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(m.active_sessions.Value(), 0);
  EXPECT_EQ(m.model_state_bytes.Value(), 0);
  EXPECT_GE(m.requests(Outcome::kCancelled, Protocol::kHttp).Value(), 1);
  EXPECT_EQ(m.requests(Outcome::kCancelled, Protocol::kGrpc).Value(), 0);

  http_->BeginDrain();
  httplib::Result draining = Post({{"model", "attention"}, {"prompt", {1}}});
  ASSERT_TRUE(draining);
  EXPECT_EQ(draining->status, 503);
}

TEST_F(HttpEndpointTest, HttpsWithBearerTokens) {
  const std::string dir = testing::MakeTempDir("http_tls");
  absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki(dir);
  ASSERT_TRUE(pki.ok()) << pki.status();
  const std::string tokens = dir + "/tokens.txt";
  testing::WriteText(tokens, "alice 0123456789abcdef0123\n");
  HttpServerOptions options;
  options.tls_cert_file = pki->server_cert;
  options.tls_key_file = pki->server_key;
  options.auth_tokens_file = tokens;
  Start(options);
  EXPECT_TRUE(http_->tls());
  httplib::SSLClient tls("127.0.0.1", http_->port());
  tls.set_ca_cert_path(pki->ca_cert.c_str());
  tls.enable_server_certificate_verification(true);
  httplib::Result anonymous = tls.Get("/v1/models");
  ASSERT_TRUE(anonymous) << httplib::to_string(anonymous.error());
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(json::parse(anonymous->body)["error"]["type"],
            "authentication_error");
  httplib::Result wrong =
      tls.Get("/v1/models", {{"Authorization", "Bearer not-a-valid-token-x"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  httplib::Result ok =
      tls.Get("/v1/models", {{"Authorization", "Bearer 0123456789abcdef0123"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  // Plain HTTP to the TLS port does not get through.
  httplib::Result plain = client_->Get("/v1/models");
  EXPECT_TRUE(!plain || plain->status != 200);
}

TEST_F(HttpEndpointTest, TokensWithoutTlsAreRefused) {
  ServerMetrics metrics;
  absl::StatusOr<std::unique_ptr<EngineHost>> host = EngineHost::Create(
      {testing::SmallSpec("attention", "attention")}, &metrics, {});
  ASSERT_TRUE(host.ok());
  HttpServerOptions options;
  options.listen = "127.0.0.1:0";
  options.auth_tokens_file = "/nonexistent";
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Start(options, host->get(), metrics.registry().get());
  EXPECT_EQ(http.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(http.status().message().find("--tls_cert_file"), std::string::npos);
  (*host)->Stop();
}

}  // namespace
}  // namespace trilemma
