#include "engines/weights/hf_config.h"

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engines/weights/json_util.h"

namespace trilemma {

// nlohmann's destructor flattens deep documents on a heap stack, which could
// throw bad_alloc; terminating then is the right outcome.
struct HfConfig::Json {  // NOLINT(bugprone-exception-escape)
  nlohmann::json value;
};

namespace {

// The value at `key`, or nullptr when absent or null.
const nlohmann::json* Lookup(const nlohmann::json& object,
                             const std::string& key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// An integer, or a float with an integral value that fits int64.
bool AsInt(const nlohmann::json& v, int64_t* out) {
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    *out = v.get<int64_t>();
    return true;
  }
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 is exactly representable; every double below it in magnitude
    // converts without overflow.
    if (!(d >= -0x1p63 && d < 0x1p63) || std::trunc(d) != d) return false;
    *out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

// Python's json module writes float('inf') and nan as the bare words
// Infinity, -Infinity and NaN (transformers' Mamba2Config time_step_limit is
// [0.0, Infinity]); strict JSON has no such literals. Outside strings they
// become ±1e308 (larger than any limit a model uses) and null (absent).
std::string NonFiniteAsJson(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    const absl::string_view rest = text.substr(i);
    if (absl::StartsWith(rest, "Infinity")) {
      out += "1e308";
      i += 7;
    } else if (absl::StartsWith(rest, "NaN")) {
      out += "null";
      i += 2;
    } else {
      out.push_back(c);  // "-" before Infinity stays: -1e308
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<HfConfig> HfConfig::Parse(absl::string_view json_text,
                                         std::string path) {
  absl::StatusOr<nlohmann::json> value =
      ParseJson(NonFiniteAsJson(json_text), path);
  if (!value.ok()) return value.status();
  if (!value->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected a JSON object, got ", JsonTypeName(*value)));
  }
  auto json = std::make_shared<Json>();
  json->value = *std::move(value);
  return HfConfig(std::move(json), std::move(path));
}

void HfConfig::Fail(const std::string& key, absl::string_view message) {
  if (error_.ok()) {
    error_ = absl::InvalidArgumentError(
        absl::StrCat(path_, ": '", key, "' ", message));
  }
}

bool HfConfig::Has(const std::string& key) const {
  return Lookup(json_->value, key) != nullptr;
}

bool HfConfig::IsString(const std::string& key) const {
  const auto* value = Lookup(json_->value, key);
  return value != nullptr && value->is_string();
}

int64_t HfConfig::Int(const std::string& key, int64_t min, int64_t max) {
  if (!Has(key)) {
    Fail(key,
         absl::StrCat("is missing (an integer in [", min, ", ", max, "])"));
    return min;
  }
  return IntOr(key, min, min, max);
}

int64_t HfConfig::IntOr(const std::string& key, int64_t def, int64_t min,
                        int64_t max) {
  const nlohmann::json* v = Lookup(json_->value, key);
  if (v == nullptr) return def;
  int64_t value = 0;
  if (!AsInt(*v, &value) || value < min || value > max) {
    Fail(key, absl::StrCat("must be an integer in [", min, ", ", max, "], got ",
                           JsonForError(*v)));
    return def;
  }
  return value;
}

double HfConfig::Float(const std::string& key, double min, double max) {
  if (!Has(key)) {
    Fail(key, absl::StrCat("is missing (a number in [", min, ", ", max, "])"));
    return min;
  }
  return FloatOr(key, min, min, max);
}

double HfConfig::FloatOr(const std::string& key, double def, double min,
                         double max) {
  const nlohmann::json* v = Lookup(json_->value, key);
  if (v == nullptr) return def;
  const double value = v->is_number() ? v->get<double>() : NAN;
  if (!(value >= min && value <= max)) {  // NaN fails too
    Fail(key, absl::StrCat("must be a number in [", min, ", ", max, "], got ",
                           JsonForError(*v)));
    return def;
  }
  return value;
}

bool HfConfig::BoolOr(const std::string& key, bool def) {
  const nlohmann::json* v = Lookup(json_->value, key);
  if (v == nullptr) return def;
  if (!v->is_boolean()) {
    Fail(key, absl::StrCat("must be true or false, got ", JsonForError(*v)));
    return def;
  }
  return v->get<bool>();
}

std::string HfConfig::StringOr(const std::string& key, std::string def) {
  const nlohmann::json* v = Lookup(json_->value, key);
  if (v == nullptr) return def;
  if (!v->is_string()) {
    Fail(key, absl::StrCat("must be a string, got ", JsonForError(*v)));
    return def;
  }
  return v->get<std::string>();
}

std::vector<std::string> HfConfig::StringList(const std::string& key) {
  const nlohmann::json* v = Lookup(json_->value, key);
  if (v == nullptr) {
    Fail(key, "is missing (an array of strings)");
    return {};
  }
  std::vector<std::string> list;
  bool ok = v->is_array();
  for (size_t i = 0; ok && i < v->size(); ++i) {
    ok = (*v)[i].is_string();
    if (ok) list.push_back((*v)[i].get<std::string>());
  }
  if (!ok) {
    Fail(key,
         absl::StrCat("must be an array of strings, got ", JsonForError(*v)));
    return {};
  }
  return list;
}

std::vector<int64_t> HfConfig::IntOrIntList(const std::string& key, int64_t min,
                                            int64_t max) {
  const nlohmann::json* v = Lookup(json_->value, key);
  if (v == nullptr) return {};
  std::vector<int64_t> list;
  const bool array = v->is_array();
  bool ok = !array || !v->empty();
  for (size_t i = 0; ok && i < (array ? v->size() : 1); ++i) {
    int64_t value = 0;
    ok = AsInt(array ? (*v)[i] : *v, &value) && value >= min && value <= max;
    if (ok) list.push_back(value);
  }
  if (!ok) {
    Fail(key, absl::StrCat("must be an integer or a non-empty array of "
                           "integers in [",
                           min, ", ", max, "], got ", JsonForError(*v)));
    return {};
  }
  return list;
}

std::vector<double> HfConfig::FloatListOr(const std::string& key,
                                          std::vector<double> def) {
  const nlohmann::json* v = Lookup(json_->value, key);
  if (v == nullptr) return def;
  std::vector<double> list;
  bool ok = v->is_array();
  for (size_t i = 0; ok && i < v->size(); ++i) {
    ok = (*v)[i].is_number();
    if (ok) list.push_back((*v)[i].get<double>());
  }
  if (!ok) {
    Fail(key,
         absl::StrCat("must be an array of numbers, got ", JsonForError(*v)));
    return def;
  }
  return list;
}

}  // namespace trilemma
