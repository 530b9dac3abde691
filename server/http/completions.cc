// POST /v1/completions (HttpServer::HandleCompletions): validate, submit one
// Generate per prompt to the engine's scheduler, and answer with one JSON
// body or a Server-Sent Events stream (docs/http.md).
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/http/completion_request.h"
#include "server/http/completion_response.h"
#include "server/http/connection_socket.h"
#include "server/http/event_queue.h"
#include "server/http/http_server.h"
#include "server/text_events.h"
#include "server/validation.h"

namespace trilemma {
namespace {

using nlohmann::json;

std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void ReplyError(httplib::Response& res, const HttpError& error) {
  res.status = error.http_status;
  if (error.retry_after_seconds.has_value()) {
    res.set_header("Retry-After", absl::StrCat(*error.retry_after_seconds));
  }
  res.set_content(Dump(error.body), "application/json");
}

// How long a worker waits for an event before it looks again; only bounds
// how late a gone client is noticed while a request waits for admission.
constexpr absl::Duration kPollInterval = absl::Milliseconds(200);

// One prompt's request in flight.
struct Choice {
  std::shared_ptr<BlockingEventQueue> queue;
  ChoiceText text;
  // Text pieces of an engine with a tokenizer (UTF-8 safe); without one the
  // token IDs are the text.
  EventText pieces;
  bool has_tokenizer = false;
  int32_t tokens = 0;
  std::optional<v1::Summary> summary;
  std::optional<absl::Status> final;

  Choice(std::vector<std::string> stop, const Tokenizer* tokenizer)
      : text(std::move(stop)),
        pieces(tokenizer),
        has_tokenizer(tokenizer != nullptr) {}

  // Applies one queue item. False once the choice is over.
  bool Apply(BlockingEventQueue::Item item) {
    if (item.final.has_value()) {
      final = std::move(item.final);
      return false;
    }
    v1::SessionEvent& event = *item.event;
    if (event.has_token()) {
      if (!text.stopped()) {
        ++tokens;
        // The stop string is cut from the text; the scheduler ends the
        // request within a step and frees its state.
        if (text.Append(
                TokenIdPiece(event.token().token(), event.token().index()))) {
          queue->Cancel();
        }
      }
    } else if (event.has_summary()) {
      summary = std::move(*event.mutable_summary());
    }
    return true;
  }

  // Waits for the next item and applies it. False once the choice is over.
  bool Next() {
    std::optional<BlockingEventQueue::Item> item = queue->Pop(kPollInterval);
    if (!item.has_value()) return true;
    return Apply(*std::move(item));
  }

  // The end of a finished choice, or its error.
  absl::StatusOr<ChoiceEnd> End() const {
    if (!summary.has_value() && text.stopped()) {
      return ChoiceEnd{v1::Summary(), true, tokens};
    }
    if (!summary.has_value()) {
      return final.has_value() && !final->ok()
                 ? *final
                 : absl::InternalError("the engine ended without a summary");
    }
    return ChoiceEnd{*summary, text.stopped(), tokens};
  }
};

// Everything a streamed response's content provider needs; owned by it.
struct StreamState {
  CompletionMeta meta;
  bool include_usage = false;
  std::vector<std::unique_ptr<Choice>> choices;
  std::vector<ChoiceEnd> ends;
  // One per choice on the client's quotas (server/quota.h), held until the
  // response is done.
  std::vector<CallQuota> quotas;

  void CancelAll() {
    for (auto& choice : choices) choice->queue->Cancel();
  }

  // Writes every choice's chunks in order, then the usage chunk and
  // [DONE] (or an error object in place of a choice that failed). False
  // when the client went away.
  bool Run(httplib::DataSink& sink) {
    auto write = [&sink](const std::string& data) {
      return sink.write(data.data(), data.size());
    };
    for (size_t i = 0; i < choices.size(); ++i) {
      Choice& choice = *choices[i];
      // Text already received (the first token, taken before the headers)
      // goes out before waiting for more.
      do {
        const std::string now = choice.text.Take(/*final=*/false);
        if (!now.empty() &&
            !write(SseData(
                StreamChunk(meta, static_cast<int>(i), now, std::nullopt)))) {
          return false;
        }
      } while (choice.Next());
      absl::StatusOr<ChoiceEnd> end = choice.End();
      if (!end.ok()) {
        // Headers are sent: the error goes in the stream, then it ends.
        const HttpError error = HttpErrorFor(end.status());
        if (!write(SseData(error.body))) return false;
        sink.done();
        return true;
      }
      if (!write(SseData(StreamChunk(meta, static_cast<int>(i),
                                     choice.text.Take(/*final=*/true),
                                     FinishReason(*end))))) {
        return false;
      }
      ends.push_back(*std::move(end));
    }
    if (include_usage && !write(SseData(UsageChunk(meta, ends)))) {
      return false;
    }
    if (!write(std::string("data: [DONE]\n\n"))) return false;
    sink.done();
    return true;
  }
};

}  // namespace

void HttpServer::HandleCompletions(const httplib::Request& req,
                                   httplib::Response& res) {
  const absl::Time accepted = absl::Now();
  if (draining_.load()) {
    ReplyError(res, HttpErrorFor(absl::UnavailableError(
                        "the server is draining; retry on another replica")));
    return;
  }
  absl::StatusOr<CompletionRequest> request = ParseCompletionRequest(req.body);
  if (!request.ok()) {
    ReplyError(res, HttpErrorFor(request.status()));
    return;
  }
  const EngineHost::Hosted* hosted = host_->FindHosted(request->model);
  if (hosted == nullptr) {
    ReplyError(res, HttpErrorFor(absl::NotFoundError(
                        absl::StrCat("model: unknown model '", request->model,
                                     "'; hosted: ", host_->NameList()))));
    return;
  }
  const v1::EngineInfo& info = hosted->engine->info();
  std::vector<TurnRequest> turns;
  for (size_t i = 0; i < request->prompts.size(); ++i) {
    const CompletionPrompt& prompt = request->prompts[i];
    const std::string field = request->prompts.size() == 1
                                  ? std::string("prompt")
                                  : absl::StrCat("prompt[", i, "]");
    // Text is encoded with the engine's tokenizer; without one it is refused
    // naming the field (docs/tokenizers.md).
    absl::StatusOr<std::vector<int32_t>> ids =
        PromptIds(prompt.tokens, prompt.text.value_or(""), info.shape().vocab(),
                  hosted->engine->tokenizer(), field, field,
                  /*required=*/true);
    if (!ids.ok()) {
      hosted->metrics->requests(Outcome::kInvalid, Protocol::kHttp).Increment();
      ReplyError(res, HttpErrorFor(ids.status()));
      return;
    }
    TurnRequest turn;
    turn.kind = TurnRequest::Kind::kGenerate;
    turn.tokens = *std::move(ids);
    turn.max_new_tokens = request->max_tokens;
    turn.sampling = request->sampling;
    turns.push_back(std::move(turn));
  }

  auto state = std::make_shared<StreamState>();
  // The client's quotas, as gRPC's Generate takes them: a stream per prompt
  // (each runs as one Generate), and prompt + max_tokens of every prompt
  // charged at once while the client's bucket is above zero.
  if (options_.quotas != nullptr && options_.quotas->enabled()) {
    const std::string client = ClientOf(req);
    int64_t charge = 0;
    for (const TurnRequest& turn : turns) {
      absl::StatusOr<CallQuota> call =
          options_.quotas->StartCall(client, /*session=*/false);
      if (!call.ok()) {
        ReplyError(res, HttpErrorFor(call.status()));
        return;
      }
      state->quotas.push_back(*std::move(call));
      charge += static_cast<int64_t>(turn.tokens.size()) + turn.max_new_tokens;
    }
    if (absl::Status s = state->quotas.front().ChargeTokens(charge); !s.ok()) {
      ReplyError(res, HttpErrorFor(s));
      return;
    }
  }
  state->meta = {absl::StrCat("cmpl-", absl::ToUnixNanos(accepted), "-",
                              next_id_.fetch_add(1)),
                 absl::ToUnixSeconds(accepted), request->model};
  state->include_usage = request->include_usage;
  EngineScheduler* scheduler = hosted->scheduler.get();
  for (TurnRequest& turn : turns) {
    auto choice =
        std::make_unique<Choice>(request->stop, hosted->engine->tokenizer());
    choice->queue = std::make_shared<BlockingEventQueue>(
        options_.stream_queue_events, scheduler);
    scheduler->SubmitGenerate(request->limits, std::move(turn), choice->queue,
                              accepted);
    state->choices.push_back(std::move(choice));
  }

  if (!request->stream) {
    // Nothing is written before the end, so a client that goes away is
    // noticed on its socket (checked every kPollInterval): the requests are
    // cancelled and their state freed within a step.
    const int socket = FindConnectionSocket(req.local_addr, req.local_port,
                                            req.remote_addr, req.remote_port);
    std::vector<std::string> texts;
    for (auto& choice : state->choices) {
      while (choice->Next()) {
        if (socket >= 0 && PeerHungUp(socket)) {
          state->CancelAll();
          // 499 (nginx's "client closed request"): only the metrics see it.
          ReplyError(res, MakeHttpError(499, "invalid_request_error",
                                        "the client closed the connection", "",
                                        "client_closed"));
          return;
        }
      }
      absl::StatusOr<ChoiceEnd> end = choice->End();
      if (!end.ok()) {
        state->CancelAll();
        ReplyError(res, HttpErrorFor(end.status()));
        return;
      }
      texts.push_back(choice->text.Take(/*final=*/true));
      state->ends.push_back(*std::move(end));
    }
    res.status = 200;
    res.set_content(Dump(CompletionBody(state->meta, texts, state->ends)),
                    "application/json");
    return;
  }

  // Streamed: wait for the first choice's first token (or its refusal) so a
  // request the engine refuses gets its HTTP status, not a 200 stream.
  Choice& first = *state->choices.front();
  bool more = true;
  while (more && first.tokens == 0 && !first.summary.has_value()) {
    more = first.Next();
  }
  if (!more && !first.summary.has_value()) {
    state->CancelAll();
    ReplyError(res, HttpErrorFor(first.End().status()));
    return;
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [state](size_t /*offset*/, httplib::DataSink& sink) {
        const bool written = state->Run(sink);
        if (!written) state->CancelAll();
        return written;
      },
      // Also runs when the connection broke before or during the stream:
      // every request still running is cancelled and its state freed.
      [state](bool /*success*/) { state->CancelAll(); });
}

}  // namespace trilemma
