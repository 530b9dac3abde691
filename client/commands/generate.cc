#include "client/commands/generate.h"

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/common/channel.h"
#include "client/common/flag_parsing.h"
#include "client/common/shared_flags.h"
#include "client/common/table_printer.h"
#include "grpcpp/client_context.h"
#include "trilemma/v1/trilemma.grpc.pb.h"

ABSL_FLAG(std::string, engine, "", "generate: the hosted engine to use.");
ABSL_FLAG(std::string, prompt, "",
          "generate: prompt token ids, separated by spaces or commas.");
ABSL_FLAG(std::string, text, "",
          "generate: the prompt as text, for an engine with a tokenizer "
          "(docs/tokenizers.md); the generated text is printed as it "
          "arrives. Instead of --prompt.");
ABSL_FLAG(int32_t, max_new_tokens, 8, "generate: tokens to generate.");
ABSL_FLAG(float, temperature, 0, "generate: softmax temperature; 0 = greedy.");
ABSL_FLAG(int32_t, top_k, 0,
          "generate: sample among the k likeliest; 0 = all.");
ABSL_FLAG(float, top_p, 1,
          "generate: nucleus sampling, among the fewest likeliest tokens "
          "whose probability reaches p; in (0, 1], 1 = all.");
ABSL_FLAG(int64_t, max_state_bytes, 0,
          "generate: stop with STATE_LIMIT past this many state bytes; "
          "0 = only the engine budget.");
ABSL_FLAG(int64_t, max_context_tokens, 0,
          "generate: stop with CONTEXT_LIMIT past this many context tokens; "
          "0 = no limit.");

namespace trilemma::client {
namespace {

std::string Ms(double seconds) {
  return absl::StrFormat("%.3f ms", seconds * 1e3);
}

}  // namespace

absl::StatusOr<v1::GenerateRequest> GenerateRequestFromFlags() {
  v1::GenerateRequest request;
  request.set_engine(absl::GetFlag(FLAGS_engine));
  if (request.engine().empty()) {
    return absl::InvalidArgumentError(
        "--engine: required (see `trilemma engines`)");
  }
  request.set_text(absl::GetFlag(FLAGS_text));
  if (!request.text().empty()) {
    if (!absl::GetFlag(FLAGS_prompt).empty()) {
      return absl::InvalidArgumentError(
          "--text: set either --prompt (token ids) or --text, not both");
    }
  } else {
    absl::StatusOr<std::vector<int32_t>> prompt =
        ParseTokenList("--prompt", absl::GetFlag(FLAGS_prompt));
    if (!prompt.ok()) return prompt.status();
    request.mutable_prompt()->Add(prompt->begin(), prompt->end());
  }

  const int32_t max_new_tokens = absl::GetFlag(FLAGS_max_new_tokens);
  if (max_new_tokens < 1 || max_new_tokens > 65536) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_new_tokens: ", max_new_tokens, " not in [1, 65536]"));
  }
  request.set_max_new_tokens(max_new_tokens);

  const float temperature = absl::GetFlag(FLAGS_temperature);
  if (!(temperature >= 0 && temperature <= 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--temperature: ", temperature, " not in [0, 100]"));
  }
  const int32_t top_k = absl::GetFlag(FLAGS_top_k);
  if (top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--top_k: ", top_k, " < 0"));
  }
  const float top_p = absl::GetFlag(FLAGS_top_p);
  if (!(top_p > 0 && top_p <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--top_p: ", top_p, " not in (0, 1]"));
  }
  request.mutable_sampling()->set_temperature(temperature);
  request.mutable_sampling()->set_top_p(top_p);
  request.mutable_sampling()->set_top_k(top_k);
  request.mutable_sampling()->set_seed(absl::GetFlag(FLAGS_seed).value_or(0));

  const int64_t max_state_bytes = absl::GetFlag(FLAGS_max_state_bytes);
  const int64_t max_context_tokens = absl::GetFlag(FLAGS_max_context_tokens);
  if (max_state_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_state_bytes: ", max_state_bytes, " < 0"));
  }
  if (max_context_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_context_tokens: ", max_context_tokens, " < 0"));
  }
  request.mutable_limits()->set_max_state_bytes(max_state_bytes);
  request.mutable_limits()->set_max_context_tokens(max_context_tokens);
  return request;
}

std::string FormatSummary(const v1::Summary& s) {
  std::string out = absl::StrCat(
      "finish ", v1::FinishReason_Name(s.finish_reason()),
      s.detail().empty() ? "" : absl::StrCat(" (", s.detail(), ")"), "\n");
  absl::StrAppend(&out, "  tokens   ", s.prompt_tokens(), " prompt + ",
                  s.generated_tokens(), " generated, context ",
                  s.context_tokens(), "\n");
  absl::StrAppend(&out, "  time     ttft ", Ms(s.ttft_seconds()), ", total ",
                  Ms(s.total_seconds()), ", queued ", Ms(s.queue_seconds()),
                  "\n");
  absl::StrAppend(&out, "  state    ", FormatBytes(s.state_bytes()),
                  " model + ", FormatBytes(s.external_state_bytes()),
                  " external, peak ", FormatBytes(s.peak_state_bytes()), "\n");
  absl::StrAppend(&out, "  flops    ", FormatCount(s.total_flops()), " total");
  if (s.generated_tokens() > 0) {
    absl::StrAppend(&out, ", ",
                    FormatCount(static_cast<double>(s.total_flops()) /
                                s.generated_tokens()),
                    " per generated token (prefill included)");
  }
  absl::StrAppend(&out, "\n");
  if (s.recall().probed()) {
    absl::StrAppend(&out, "  recall   ", s.recall().hit() ? "hit" : "miss",
                    " (", s.recall().matched_tokens(), "/",
                    s.recall().expected_tokens(), " tokens matched, distance ",
                    s.recall().distance(), ", context ",
                    s.recall().context_tokens(), ")\n");
  }
  return out;
}

int RunGenerateCommand(const CommandEnv& env) {
  absl::StatusOr<v1::GenerateRequest> request = GenerateRequestFromFlags();
  if (!request.ok()) {
    return ReportError(env, "generate", request.status(), true);
  }

  std::unique_ptr<v1::Trilemma::Stub> stub = v1::Trilemma::NewStub(env.channel);
  grpc::ClientContext context;
  ApplyTimeout(&context);
  std::unique_ptr<grpc::ClientReader<v1::GenerateEvent>> reader =
      stub->Generate(&context, *request);
  v1::GenerateEvent event;
  bool have_summary = false;
  int64_t printed = 0;
  // A text prompt gets text back: each token's piece as it arrives.
  const bool text = !request->text().empty();
  while (reader->Read(&event)) {
    if (event.has_token()) {
      if (text) {
        ++printed;
        env.out << event.token().text();
      } else {
        env.out << (printed++ == 0 ? "" : " ") << event.token().token();
      }
      env.out.flush();
    } else if (event.has_summary()) {
      if (text) env.out << event.summary().text_tail();
      if (printed > 0) env.out << "\n";
      env.out << FormatSummary(event.summary());
      env.out.flush();
      have_summary = true;
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    if (printed > 0 && !have_summary) env.out << "\n";
    env.out.flush();
    return ReportError(env, "generate", ToAbslStatus(status));
  }
  if (!have_summary) {
    return ReportError(
        env, "generate",
        absl::InternalError("the stream ended without a summary"));
  }
  return kExitOk;
}

}  // namespace trilemma::client
