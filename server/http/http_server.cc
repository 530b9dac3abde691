#include "server/http/http_server.h"

#include <signal.h>

#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/http/completion_response.h"

namespace trilemma {
namespace {

using nlohmann::json;

constexpr char kJson[] = "application/json";

void ReplyJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                  kJson);
}

time_t Seconds(absl::Duration d) {
  return static_cast<time_t>(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
}

absl::Status SplitHostPort(const std::string& listen, std::string* host,
                           int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(listen.substr(colon + 1), port) || *port < 0 ||
      *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http_listen: expected HOST:PORT, got '", listen, "'"));
  }
  *host = listen.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options, EngineHost* host,
    prometheus::Registry* registry) {
  if (options.threads < 1 || options.max_body_bytes < 1 ||
      options.stream_queue_events < 1) {
    return absl::InvalidArgumentError(
        "--http_threads, --http_max_body_bytes and the stream queue must be "
        ">= 1");
  }
  std::string bind_host;
  int bind_port = 0;
  if (absl::Status s = SplitHostPort(options.listen, &bind_host, &bind_port);
      !s.ok()) {
    return s;
  }
  std::unique_ptr<HttpServer> http(new HttpServer());
  http->options_ = options;
  http->host_ = host;
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file: give both or neither");
  }
  if (!options.tls_cert_file.empty()) {
    // The files are checked now (readable PEM, matching key: a mistake
    // names the flag and file) and watched: a handshake after they change
    // serves the new pair; a bad pair keeps the old one and is logged.
    TlsOptions tls;
    tls.cert_file = options.tls_cert_file;
    tls.key_file = options.tls_key_file;
    absl::StatusOr<std::unique_ptr<MetricsTls>> loaded =
        MetricsTls::Load(tls, "tls", "--http_listen");
    if (!loaded.ok()) return loaded.status();
    http->certificate_ = *std::move(loaded);
    MetricsTls* certificate = http->certificate_.get();
    auto server =
        std::make_unique<httplib::SSLServer>([certificate](SSL_CTX& ctx) {
          certificate->Install(&ctx);
          return true;
        });
    if (!server->is_valid()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_cert_file ", options.tls_cert_file,
                       ": cpp-httplib could not make a TLS context"));
    }
    http->server_ = std::move(server);
    http->tls_ = true;
  } else {
    http->server_ = std::make_unique<httplib::Server>();
  }
  if (!options.auth_tokens_file.empty()) {
    if (!http->tls_) {
      return absl::InvalidArgumentError(
          "--auth_tokens_file on --http_listen needs --tls_cert_file and "
          "--tls_key_file (bearer tokens must not travel in clear text)");
    }
    if (absl::Status s = http->ReloadAuthTokens(); !s.ok()) return s;
  }
  http->requests_ =
      &prometheus::BuildCounter()
           .Name("trilemma_http_requests_total")
           .Help(
               "Requests on the OpenAI-compatible HTTP endpoint by "
               "endpoint and HTTP status (protocol=\"http\"; the engine's "
               "trilemma_requests_total counts them with gRPC's).")
           .Register(*registry);
  http->auth_failures_ =
      &prometheus::BuildCounter()
           .Name("trilemma_http_auth_failures_total")
           .Help(
               "HTTP requests refused for a missing or unknown bearer "
               "token.")
           .Register(*registry);

  httplib::Server& server = *http->server_;
  const size_t threads = static_cast<size_t>(options.threads);
  server.new_task_queue = [threads] {
    return new httplib::ThreadPool(threads);
  };
  server.set_read_timeout(Seconds(options.read_timeout));
  server.set_write_timeout(Seconds(options.write_timeout));
  server.set_keep_alive_timeout(Seconds(options.keep_alive));
  server.set_keep_alive_max_count(1000);
  server.set_payload_max_length(options.max_body_bytes);
  server.set_tcp_nodelay(true);
  http->Route();

  // A peer that closes mid-stream must fail the write, not kill the process
  // (cpp-httplib sends without MSG_NOSIGNAL).
  signal(SIGPIPE, SIG_IGN);
  if (bind_port == 0) {
    bind_port = server.bind_to_any_port(bind_host);
    if (bind_port <= 0) {
      return absl::UnavailableError(
          absl::StrCat("--http_listen ", options.listen, ": cannot bind"));
    }
  } else if (!server.bind_to_port(bind_host, bind_port)) {
    return absl::UnavailableError(
        absl::StrCat("--http_listen ", options.listen, ": cannot bind"));
  }
  http->port_ = bind_port;
  http->address_ = absl::StrCat(absl::StrContains(bind_host, ':')
                                    ? absl::StrCat("[", bind_host, "]")
                                    : bind_host,
                                ":", bind_port);
  http->thread_ = std::thread([&server] { server.listen_after_bind(); });
  return http;
}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::ReloadAuthTokens() {
  if (options_.auth_tokens_file.empty()) return absl::OkStatus();
  absl::StatusOr<TokenTable> table =
      TokenTable::Load(options_.auth_tokens_file);
  if (!table.ok()) return table.status();
  auto shared = std::make_shared<const TokenTable>(*std::move(table));
  absl::MutexLock lock(&mu_);
  tokens_ = std::move(shared);
  return absl::OkStatus();
}

void HttpServer::BeginDrain() { draining_.store(true); }

void HttpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  draining_.store(true);
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::Count(const std::string& endpoint, int status) {
  requests_
      ->Add({{"protocol", "http"},
             {"endpoint", endpoint},
             {"code", absl::StrCat(status)}})
      .Increment();
}

bool HttpServer::Authorize(const httplib::Request& req,
                           httplib::Response& res) {
  std::shared_ptr<const TokenTable> tokens;
  {
    absl::MutexLock lock(&mu_);
    tokens = tokens_;
  }
  if (tokens == nullptr) return true;
  const std::string header = req.get_header_value("Authorization");
  absl::string_view reason;
  if (header.empty()) {
    reason = "missing";
  } else if (!absl::StartsWith(header, "Bearer ")) {
    reason = "malformed";
  } else if (!tokens->Authenticate(absl::string_view(header).substr(7))) {
    reason = "invalid";
  } else {
    return true;
  }
  auth_failures_->Add({{"reason", std::string(reason)}}).Increment();
  const HttpError error = MakeHttpError(
      401, "authentication_error",
      absl::StrCat("authorization: ", reason,
                   " bearer token (send 'Authorization: Bearer <token>' "
                   "with a token of --auth_tokens_file)"),
      "", "invalid_api_key");
  ReplyJson(res, error.http_status, error.body);
  return false;
}

std::string HttpServer::ClientOf(const httplib::Request& req) {
  std::shared_ptr<const TokenTable> tokens;
  {
    absl::MutexLock lock(&mu_);
    tokens = tokens_;
  }
  const std::string header = req.get_header_value("Authorization");
  if (tokens != nullptr && absl::StartsWith(header, "Bearer ")) {
    if (std::optional<std::string> client =
            tokens->Authenticate(absl::string_view(header).substr(7))) {
      return *std::move(client);
    }
  }
  // gRPC's peer strings: "ipv4:127.0.0.1", "ipv6:%5B::1%5D" (port dropped).
  return absl::StrContains(req.remote_addr, ':')
             ? absl::StrCat("ipv6:%5B", req.remote_addr, "%5D")
             : absl::StrCat("ipv4:", req.remote_addr);
}

void HttpServer::Route() {
  httplib::Server& server = *server_;
  server.set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (Authorize(req, res)) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        // Only known paths become label values: a client cannot grow the
        // metric's series.
        Count(req.path == "/v1/models" || req.path == "/v1/completions"
                  ? req.path
                  : std::string("other"),
              res.status);
        return httplib::Server::HandlerResponse::Handled;
      });
  server.Get("/v1/models",
             [this](const httplib::Request&, httplib::Response& res) {
               HandleModels(res);
               Count("/v1/models", res.status);
             });
  server.Post("/v1/completions",
              [this](const httplib::Request& req, httplib::Response& res) {
                HandleCompletions(req, res);
                Count("/v1/completions", res.status);
              });
  // Replies the library makes itself (413 body too large, 404 unknown
  // path, 400 malformed request line) get an OpenAI-style body too.
  server.set_error_handler([](const httplib::Request& req,
                              httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message;
    std::string code;
    if (res.status == 413) {
      message = "body: larger than --http_max_body_bytes";
      code = "request_too_large";
    } else if (res.status == 404) {
      message = absl::StrCat("no such endpoint: ", req.method, " ", req.path,
                             " (served: GET /v1/models, POST /v1/completions)");
      code = "unknown_url";
    } else {
      message = absl::StrCat("HTTP ", res.status);
    }
    const HttpError error =
        MakeHttpError(res.status, "invalid_request_error", message, "", code);
    ReplyJson(res, res.status, error.body);
  });
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        const HttpError error =
            MakeHttpError(500, "server_error", "internal error", "", "");
        ReplyJson(res, 500, error.body);
      });
}

void HttpServer::HandleModels(httplib::Response& res) const {
  json data = json::array();
  for (const auto& hosted : host_->engines()) {
    const v1::EngineInfo& info = hosted->engine->info();
    data.push_back({{"id", info.name()},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", "trilemma"},
                    {"trilemma",
                     {{"family", info.family()},
                      {"vocab", info.shape().vocab()},
                      {"tokenizer", hosted->engine->tokenizer() != nullptr},
                      {"description", info.description()}}}});
  }
  ReplyJson(res, 200, json{{"object", "list"}, {"data", std::move(data)}});
}

}  // namespace trilemma
