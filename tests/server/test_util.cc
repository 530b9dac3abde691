#include "tests/server/test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/sampler.h"

namespace trilemma::testing {

EngineSpec SmallSpec(const std::string& name, const std::string& family,
                     int64_t budget_bytes,
                     std::map<std::string, std::string> knobs) {
  EngineSpec spec;
  spec.name = name;
  spec.family = family;
  spec.knobs = std::move(knobs);
  spec.knobs.emplace("d_model", "32");
  spec.knobs.emplace("vocab", std::to_string(kVocab));
  spec.state_budget_bytes = budget_bytes;
  return spec;
}

bool RecordingSink::Ready() {
  absl::MutexLock lock(&mu_);
  return ready_;
}

bool RecordingSink::Cancelled() {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void RecordingSink::Push(v1::SessionEvent event) {
  absl::MutexLock lock(&mu_);
  events_.push_back(std::move(event));
}

void RecordingSink::Finish(absl::Status status) {
  absl::MutexLock lock(&mu_);
  ++finish_calls_;
  if (!status_) status_ = std::move(status);
}

void RecordingSink::SetReady(bool ready) {
  absl::MutexLock lock(&mu_);
  ready_ = ready;
}

void RecordingSink::SetCancelled() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
}

int RecordingSink::CountSummariesLocked() const {
  int n = 0;
  for (const v1::SessionEvent& e : events_) n += e.has_summary();
  return n;
}

bool RecordingSink::WaitFinished() {
  absl::MutexLock lock(&mu_);
  auto finished = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return status_.has_value();
  };
  return mu_.AwaitWithTimeout(absl::Condition(&finished), kWait);
}

bool RecordingSink::WaitSummaries(int n) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return CountSummariesLocked() >= n || status_.has_value();
  };
  mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  return CountSummariesLocked() >= n;
}

bool RecordingSink::WaitEvents(int n) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(events_.size()) >= n || status_.has_value();
  };
  mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  return static_cast<int>(events_.size()) >= n;
}

std::vector<v1::SessionEvent> RecordingSink::events() {
  absl::MutexLock lock(&mu_);
  return events_;
}

std::vector<v1::TokenEvent> RecordingSink::tokens() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::TokenEvent> out;
  for (const v1::SessionEvent& e : events_) {
    if (e.has_token()) out.push_back(e.token());
  }
  return out;
}

std::vector<v1::Summary> RecordingSink::summaries() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::Summary> out;
  for (const v1::SessionEvent& e : events_) {
    if (e.has_summary()) out.push_back(e.summary());
  }
  return out;
}

std::optional<absl::Status> RecordingSink::status() {
  absl::MutexLock lock(&mu_);
  return status_;
}

int RecordingSink::finish_calls() {
  absl::MutexLock lock(&mu_);
  return finish_calls_;
}

TurnRequest GenerateTurn(std::vector<int32_t> prompt, int max_new) {
  TurnRequest turn;
  turn.kind = TurnRequest::Kind::kGenerate;
  turn.tokens = std::move(prompt);
  turn.max_new_tokens = max_new;
  return turn;
}

TurnRequest AppendTurn(std::vector<int32_t> tokens) {
  TurnRequest turn;
  turn.kind = TurnRequest::Kind::kAppend;
  turn.tokens = std::move(tokens);
  return turn;
}

std::vector<int32_t> DirectGreedy(const Engine& engine,
                                  const std::vector<int32_t>& prompt, int n) {
  std::unique_ptr<Session> session = engine.NewSession().value();
  std::vector<float> logits(engine.info().shape().vocab());
  Session* batch[] = {session.get()};
  std::vector<int32_t> out;
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (!session->Reserve(1).ok()) return out;
    if (!engine.Step(batch, {&prompt[i], 1}, logits.data()).ok()) return out;
  }
  for (int i = 0; i < n; ++i) {
    const int32_t token = Argmax(logits);
    out.push_back(token);
    if (i + 1 == n) break;
    if (!session->Reserve(1).ok()) return out;
    if (!engine.Step(batch, {&token, 1}, logits.data()).ok()) return out;
  }
  return out;
}

int64_t DirectFlops(const Engine& engine, const std::vector<int32_t>& tokens) {
  std::unique_ptr<Session> session = engine.NewSession().value();
  std::vector<float> logits(engine.info().shape().vocab());
  Session* batch[] = {session.get()};
  int64_t flops = 0;
  for (const int32_t& token : tokens) {
    flops += engine.NextStepCost(*session).flops;
    if (!session->Reserve(1).ok()) return -1;
    if (!engine.Step(batch, {&token, 1}, logits.data()).ok()) return -1;
  }
  return flops;
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{.tv_sec = 30, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port));
  }
  const std::string request =
      absl::StrCat("GET ", path,
                   " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("write");
  }
  std::string response;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) {
    return absl::DataLossError(absl::StrCat("bad HTTP response: ", response));
  }
  if (response.find(" 200 ") == std::string::npos ||
      response.find(" 200 ") > body) {
    return absl::UnavailableError(response.substr(0, body));
  }
  return response.substr(body + 4);
}

bool PollUntil(const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + kWait;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

}  // namespace trilemma::testing
