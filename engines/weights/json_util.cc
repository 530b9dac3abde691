#include "engines/weights/json_util.h"

#include <set>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trilemma {
namespace {

// Bounds on what a config or index file may hold, far above any real one
// (depth 3-4; an index of 100k tensors, more than the largest models have,
// is 200k values), so a hostile file
// cannot make the DOM take gigabytes or the parse take minutes.
constexpr int kMaxDepth = 128;
constexpr int64_t kMaxValues = 1'000'000;

// Thrown from the parser callback to stop the parse.
struct TooLarge {
  std::string message;
};

}  // namespace

absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text,
                                         const std::string& where) {
  return ParseJson(text, where, kMaxValues);
}

absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text,
                                         const std::string& where,
                                         int64_t max_values) {
  // One key set per open object; key events only arrive inside objects, so
  // the innermost open object is always the back of the stack.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  int64_t values = 0;
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event,
                      nlohmann::json& parsed) {
    if (depth > kMaxDepth) {
      throw TooLarge{absl::StrCat("nested deeper than ", kMaxDepth, " levels")};
    }
    const bool is_value =
        event == nlohmann::json::parse_event_t::value ||
        event == nlohmann::json::parse_event_t::object_start ||
        event == nlohmann::json::parse_event_t::array_start;
    if (is_value && ++values > max_values) {
      throw TooLarge{absl::StrCat("more than ", max_values, " JSON values")};
    }
    switch (event) {
      case nlohmann::json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case nlohmann::json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case nlohmann::json::parse_event_t::key:
        if (!open_objects.empty() && duplicate.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(text.begin(), text.end(), on_event);
  } catch (const TooLarge& e) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", e.message));
  } catch (const nlohmann::json::exception& e) {
    // The parser quotes the input it stopped at, which may be binary.
    std::string message = e.what();
    for (char& c : message) {
      if (c < 0x20 || c > 0x7e) c = '?';
    }
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": not valid JSON: ", message));
  }
  if (!duplicate.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": duplicate key '", duplicate, "'"));
  }
  return value;
}

std::string JsonForError(const nlohmann::json& value) {
  constexpr size_t kMaxChars = 60;
  std::string text =
      value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kMaxChars) {
    text.resize(kMaxChars);
    text += "...";
  }
  return text;
}

std::string NameForError(absl::string_view name) {
  constexpr size_t kMaxChars = 200;
  std::string out = "'";
  for (char c : name.substr(0, kMaxChars)) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  }
  return absl::StrCat(out, name.size() > kMaxChars ? "...'" : "'");
}

std::string JsonTypeName(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "an integer";
    case nlohmann::json::value_t::number_float:
      return "a number";
    default:
      return "a binary value";
  }
}

}  // namespace trilemma
