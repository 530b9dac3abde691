#include "client/commands/engines.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "client/common/channel.h"
#include "client/common/engine_selection.h"
#include "client/common/flag_parsing.h"
#include "client/common/json_output.h"
#include "client/common/shared_flags.h"
#include "client/common/table_printer.h"

namespace trilemma::client {
namespace {

// "-" for fields that are zero because they do not apply (no window, no
// recurrent state, unbounded budget).
std::string OrDash(int64_t value) {
  return value == 0 ? "-" : absl::StrCat(value);
}

std::string BytesOrDash(int64_t bytes) {
  return bytes == 0 ? "-" : FormatBytes(bytes);
}

}  // namespace

std::string FormatEnginesTable(const v1::ListEnginesResponse& response) {
  using C = TablePrinter;
  TablePrinter table({{"engine"},
                      {"family"},
                      {"corners"},
                      {"d_model", C::kRight},
                      {"layers", C::kRight},
                      {"heads", C::kRight},
                      {"vocab", C::kRight},
                      {"state_dim", C::kRight},
                      {"window", C::kRight},
                      {"state_fixed", C::kRight},
                      {"state/token", C::kRight},
                      {"state_cap", C::kRight},
                      {"budget", C::kRight}});
  for (const v1::EngineInfo& info : response.engines()) {
    const v1::EngineShape& shape = info.shape();
    const std::string layers =
        shape.circuit_layers() > 0 && shape.circuit_layers() != shape.layers()
            ? absl::StrCat(shape.layers(), " (", shape.circuit_layers(),
                           " circuit)")
            : absl::StrCat(shape.layers());
    table.AddRow({info.name(), info.family(), FormatCorners(info.corners()),
                  absl::StrCat(shape.d_model()), layers,
                  absl::StrCat(shape.heads()), absl::StrCat(shape.vocab()),
                  OrDash(shape.state_dim()), OrDash(shape.window()),
                  BytesOrDash(info.state_bytes_fixed()),
                  BytesOrDash(info.state_bytes_per_token()),
                  BytesOrDash(info.state_bytes_cap()),
                  info.state_budget_bytes() == 0
                      ? "unbounded"
                      : FormatBytes(info.state_budget_bytes())});
  }
  return table.ToString();
}

int RunEnginesCommand(const CommandEnv& env) {
  absl::StatusOr<OutputFormat> format = OutputFormatFlag();
  if (!format.ok()) return ReportError(env, "engines", format.status(), true);

  std::unique_ptr<v1::Trilemma::Stub> stub = v1::Trilemma::NewStub(env.channel);
  absl::StatusOr<v1::ListEnginesResponse> response =
      ListEngines(*stub, env.target);
  if (!response.ok()) return ReportError(env, "engines", response.status());
  if (*format == OutputFormat::kJson) {
    absl::StatusOr<std::string> json = ToJson(*response);
    if (!json.ok()) return ReportError(env, "engines", json.status());
    env.out << *json;
  } else {
    env.out << FormatEnginesTable(*response);
  }
  env.out.flush();
  return kExitOk;
}

}  // namespace trilemma::client
