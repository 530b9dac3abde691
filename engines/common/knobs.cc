#include "engines/common/knobs.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace trilemma {

void Knobs::Fail(const std::string& message) {
  if (error_.ok()) error_ = absl::InvalidArgumentError(message);
}

int64_t Knobs::Int(const std::string& name, int64_t def, int64_t min,
                   int64_t max) {
  read_.insert(name);
  int64_t value = def;
  auto it = given_.find(name);
  if (it != given_.end() && !absl::SimpleAtoi(it->second, &value)) {
    Fail(
        absl::StrCat("knobs.", name, ": '", it->second, "' is not an integer"));
    value = def;
  } else if (value < min || value > max) {
    Fail(absl::StrCat("knobs.", name, ": ", value, " is outside [", min, ", ",
                      max, "]"));
    value = def;
  }
  effective_[name] = absl::StrCat(value);
  return value;
}

double Knobs::Float(const std::string& name, double def, double min,
                    double max) {
  read_.insert(name);
  double value = def;
  auto it = given_.find(name);
  if (it != given_.end() && !absl::SimpleAtod(it->second, &value)) {
    Fail(absl::StrCat("knobs.", name, ": '", it->second, "' is not a number"));
    value = def;
  } else if (!(value >= min && value <= max)) {
    Fail(absl::StrCat("knobs.", name, ": ", value, " is outside [", min, ", ",
                      max, "]"));
    value = def;
  }
  effective_[name] = absl::StrCat(value);
  return value;
}

std::string Knobs::Choice(const std::string& name, const std::string& def,
                          const std::vector<std::string>& allowed) {
  read_.insert(name);
  std::string value = def;
  auto it = given_.find(name);
  if (it != given_.end()) {
    if (std::find(allowed.begin(), allowed.end(), it->second) ==
        allowed.end()) {
      Fail(absl::StrCat("knobs.", name, ": '", it->second, "' is not one of ",
                        absl::StrJoin(allowed, ", ")));
    } else {
      value = it->second;
    }
  }
  effective_[name] = value;
  return value;
}

absl::Status Knobs::Finish() const {
  if (!error_.ok()) return error_;
  for (const auto& [name, value] : given_) {
    if (!read_.contains(name)) {
      std::vector<std::string> known(read_.begin(), read_.end());
      return absl::InvalidArgumentError(
          absl::StrCat("knobs.", name, ": unknown knob; this engine takes ",
                       absl::StrJoin(known, ", ")));
    }
  }
  return absl::OkStatus();
}

}  // namespace trilemma
