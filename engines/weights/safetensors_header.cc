#include "engines/weights/safetensors_header.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engines/weights/json_util.h"
#include "nlohmann/json.hpp"

namespace trilemma {
namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// A string for an error message: quoted, control bytes replaced, cut short.
std::string Quoted(absl::string_view s) {
  constexpr size_t kMaxChars = 60;
  std::string out = "\"";
  for (char c : s.substr(0, kMaxChars)) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  }
  return absl::StrCat(out, s.size() > kMaxChars ? "...\"" : "\"");
}

// One JSON value as the SAX parser reports it: a scalar with its text, or
// the start of a container.
struct Value {
  enum Kind { kNull, kBool, kInt, kFloat, kString, kObject, kArray } kind;
  std::string text;           // the value as written, for messages (scalars)
  int64_t int_value;          // kInt only: a non-negative value that fits int64
  bool int_ok;                // kInt: int_value is valid
  std::string* string_value;  // kString only

  // "an array", or the scalar itself.
  std::string Describe() const {
    if (kind == kObject) return "an object";
    if (kind == kArray) return "an array";
    return text;
  }
  std::string TypeName() const {
    switch (kind) {
      case kNull:
        return "null";
      case kBool:
        return "a boolean";
      case kInt:
        return "an integer";
      case kFloat:
        return "a number";
      case kString:
        return "a string";
      case kObject:
        return "an object";
      default:
        return "an array";
    }
  }
};

// The nlohmann SAX interface over a safetensors header. Each handler returns
// false to stop the parse at the first error (kept in `status`).
class HeaderHandler {
 public:
  HeaderHandler(const std::string& path, int64_t data_len,
                std::vector<SafetensorsTensor>* tensors)
      : path_(path), data_len_(data_len), tensors_(tensors) {}

  absl::Status status;

  bool null() { return OnValue({Value::kNull, "null", 0, false, nullptr}); }
  bool boolean(bool b) {
    return OnValue({Value::kBool, b ? "true" : "false", 0, false, nullptr});
  }
  bool number_integer(int64_t v) {
    return OnValue({Value::kInt, absl::StrCat(v), v, v >= 0, nullptr});
  }
  bool number_unsigned(uint64_t v) {
    const bool fits = v <= static_cast<uint64_t>(INT64_MAX);
    return OnValue({Value::kInt, absl::StrCat(v),
                    fits ? static_cast<int64_t>(v) : 0, fits, nullptr});
  }
  bool number_float(double /*v*/, const std::string& text) {
    return OnValue({Value::kFloat, text, 0, false, nullptr});
  }
  bool string(std::string& s) {
    return OnValue({Value::kString, Quoted(s), 0, false, &s});
  }
  bool binary(nlohmann::json::binary_t& /*b*/) {
    return Fail("header: binary values are not JSON");
  }
  bool start_object(size_t /*n*/) {
    return OnValue({Value::kObject, "", 0, false, nullptr});
  }
  bool start_array(size_t /*n*/) {
    return OnValue({Value::kArray, "", 0, false, nullptr});
  }
  bool key(std::string& k);
  bool end_object();
  bool end_array();
  bool parse_error(size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::json::exception& e) {
    std::string message = e.what();  // may quote binary input
    for (char& c : message) {
      if (c < 0x20 || c > 0x7e) c = '?';
    }
    return Fail(absl::StrCat("header: not valid JSON: ", message));
  }

 private:
  enum class State {
    kTop,       // before the header value
    kEntries,   // in the top object, between entries
    kMetadata,  // in "__metadata__"
    kEntry,     // in a tensor's object
    kShape,     // in its shape array
    kOffsets,   // in its data_offsets array
    kSkip,      // in a value of an unknown entry field, ignored
    kDone,      // after the top object
  };
  enum Field { kDtype = 1, kShapeField = 2, kOffsetsField = 4, kOther = 8 };

  bool OnValue(const Value& v);
  bool OnEntryValue(const Value& v);
  bool FinishEntry();
  bool Fail(absl::string_view message) {
    if (status.ok()) {
      status = absl::InvalidArgumentError(absl::StrCat(path_, ": ", message));
    }
    return false;
  }
  std::string What() const {
    return absl::StrCat("tensor ", NameForError(name_));
  }

  const std::string& path_;
  const int64_t data_len_;
  std::vector<SafetensorsTensor>* tensors_;
  State state_ = State::kTop;
  absl::flat_hash_set<std::string> names_;  // top-level keys seen
  absl::flat_hash_set<std::string> metadata_keys_;
  std::string name_;      // the entry being read (or "__metadata__")
  std::string meta_key_;  // the metadata key being read
  Field field_ = kOther;  // the entry field whose value comes next
  int seen_fields_ = 0;   // Field bits
  int skip_depth_ = 0;    // open containers inside a skipped value
  int offsets_read_ = 0;  // elements of data_offsets so far
  SafetensorsTensor entry_;
};

bool HeaderHandler::key(std::string& k) {
  switch (state_) {
    case State::kEntries:
      if (!names_.insert(k).second) {
        return Fail(absl::StrCat("header: duplicate key ", NameForError(k)));
      }
      name_ = std::move(k);
      return true;
    case State::kMetadata:
      if (!metadata_keys_.insert(k).second) {
        return Fail(
            absl::StrCat("'__metadata__': duplicate key ", NameForError(k)));
      }
      meta_key_ = std::move(k);
      return true;
    case State::kEntry: {
      field_ = k == "dtype"          ? kDtype
               : k == "shape"        ? kShapeField
               : k == "data_offsets" ? kOffsetsField
                                     : kOther;
      if (field_ != kOther && (seen_fields_ & field_) != 0) {
        return Fail(
            absl::StrCat(What(), " has a duplicate key ", NameForError(k)));
      }
      seen_fields_ |= field_;
      return true;
    }
    default:  // keys inside a skipped value
      return true;
  }
}

bool HeaderHandler::OnValue(const Value& v) {
  switch (state_) {
    case State::kTop:
      if (v.kind != Value::kObject) {
        return Fail(absl::StrCat("header is ", v.TypeName(),
                                 ", expected a JSON object"));
      }
      state_ = State::kEntries;
      return true;
    case State::kEntries:
      if (name_ == "__metadata__") {
        if (v.kind == Value::kNull) return true;  // as the reference reads
        if (v.kind != Value::kObject) {
          return Fail(
              absl::StrCat("'__metadata__' must be an object of strings, got ",
                           v.TypeName()));
        }
        state_ = State::kMetadata;
        return true;
      }
      if (v.kind != Value::kObject) {
        return Fail(absl::StrCat(What(), " is ", v.TypeName(),
                                 ", expected an object with dtype, shape "
                                 "and data_offsets"));
      }
      entry_ = SafetensorsTensor{};
      entry_.name = name_;
      seen_fields_ = 0;
      state_ = State::kEntry;
      return true;
    case State::kMetadata:
      if (v.kind != Value::kString) {
        return Fail(
            absl::StrCat("'__metadata__' must be an object of "
                         "strings; ",
                         NameForError(meta_key_), " is ", v.TypeName()));
      }
      return true;
    case State::kEntry:
      return OnEntryValue(v);
    case State::kShape:
      if (v.kind != Value::kInt || !v.int_ok) {
        return Fail(absl::StrCat(What(),
                                 ": shape must be an array of non-negative "
                                 "integers, got element ",
                                 v.Describe()));
      }
      entry_.shape.push_back(v.int_value);
      return true;
    case State::kOffsets:
      if (v.kind != Value::kInt || !v.int_ok || offsets_read_ == 2) {
        return Fail(absl::StrCat(What(),
                                 ": data_offsets must be two non-negative "
                                 "integers [begin, end], got element ",
                                 v.Describe()));
      }
      (offsets_read_ == 0 ? entry_.begin : entry_.end) = v.int_value;
      ++offsets_read_;
      return true;
    case State::kSkip:
      if (v.kind == Value::kObject || v.kind == Value::kArray) ++skip_depth_;
      return true;
    default:
      return Fail("header: content after the JSON object");
  }
}

bool HeaderHandler::OnEntryValue(const Value& v) {
  switch (field_) {
    case kDtype:
      if (v.kind != Value::kString) {
        return Fail(absl::StrCat(What(), ": dtype must be a string, got ",
                                 v.Describe()));
      }
      entry_.dtype = std::move(*v.string_value);
      return true;
    case kShapeField:
      if (v.kind != Value::kArray) {
        return Fail(absl::StrCat(What(),
                                 ": shape must be an array of non-negative "
                                 "integers, got ",
                                 v.Describe()));
      }
      state_ = State::kShape;
      return true;
    case kOffsetsField:
      if (v.kind != Value::kArray) {
        return Fail(absl::StrCat(What(),
                                 ": data_offsets must be two non-negative "
                                 "integers [begin, end], got ",
                                 v.Describe()));
      }
      offsets_read_ = 0;
      state_ = State::kOffsets;
      return true;
    default:  // an unknown field: ignored, as the reference does
      if (v.kind == Value::kObject || v.kind == Value::kArray) {
        skip_depth_ = 1;
        state_ = State::kSkip;
      }
      return true;
  }
}

bool HeaderHandler::end_array() {
  switch (state_) {
    case State::kShape:
      state_ = State::kEntry;
      return true;
    case State::kOffsets:
      if (offsets_read_ != 2) {
        return Fail(absl::StrCat(What(),
                                 ": data_offsets must be two non-negative "
                                 "integers [begin, end], got ",
                                 offsets_read_, " of them"));
      }
      state_ = State::kEntry;
      return true;
    case State::kSkip:
      if (--skip_depth_ == 0) state_ = State::kEntry;
      return true;
    default:  // the parser never closes an array it did not open
      return Fail("header: unbalanced array");
  }
}

bool HeaderHandler::end_object() {
  switch (state_) {
    case State::kEntries:
      state_ = State::kDone;
      return true;
    case State::kMetadata:
      state_ = State::kEntries;
      return true;
    case State::kEntry:
      if (!FinishEntry()) return false;
      state_ = State::kEntries;
      return true;
    case State::kSkip:
      if (--skip_depth_ == 0) state_ = State::kEntry;
      return true;
    default:
      return Fail("header: unbalanced object");
  }
}

bool HeaderHandler::FinishEntry() {
  for (auto [bit, field] :
       {std::pair{kDtype, "dtype"}, std::pair{kShapeField, "shape"},
        std::pair{kOffsetsField, "data_offsets"}}) {
    if ((seen_fields_ & bit) == 0) {
      return Fail(absl::StrCat(What(), " has no ", field));
    }
  }
  const int64_t elem_size = SafetensorsDtypeSize(entry_.dtype);
  if (elem_size == 0) {
    return Fail(absl::StrCat(What(), " has unknown dtype ",
                             Quoted(entry_.dtype),
                             " (known: BOOL, U8, I8, "
                             "F8_E4M3, F8_E5M2, I16, U16, F16, BF16, I32, "
                             "U32, F32, F64, I64, U64)"));
  }
  const std::string range =
      absl::StrCat("[", entry_.begin, ", ", entry_.end, "]");
  if (entry_.begin > entry_.end) {
    return Fail(absl::StrCat(What(), " has data_offsets ", range,
                             ": begin is after end"));
  }
  if (entry_.end > data_len_) {
    return Fail(absl::StrCat(What(), " has data_offsets ", range,
                             ", past the end of the ", data_len_,
                             "-byte data section"));
  }
  // numel x size without overflow; any zero dim makes it 0 whatever the rest.
  int64_t bytes = elem_size;
  bool overflow = false;
  for (int64_t dim : entry_.shape) {
    if (dim == 0) {
      bytes = 0;
      overflow = false;
      break;
    }
    overflow = overflow || __builtin_mul_overflow(bytes, dim, &bytes);
  }
  if (overflow) {
    return Fail(absl::StrCat(What(), ": shape ", ShapeText(entry_.shape),
                             " of ", entry_.dtype,
                             " is larger than 2^63 bytes"));
  }
  if (bytes != entry_.end - entry_.begin) {
    return Fail(absl::StrCat(What(), " is ", entry_.dtype, " ",
                             ShapeText(entry_.shape), " = ", bytes,
                             " bytes, but its data_offsets ", range, " span ",
                             entry_.end - entry_.begin));
  }
  tensors_->push_back(std::move(entry_));
  return true;
}

}  // namespace

absl::Status ParseSafetensorsHeader(absl::string_view header_json,
                                    int64_t data_len, const std::string& path,
                                    std::vector<SafetensorsTensor>* tensors) {
  HeaderHandler handler(path, data_len, tensors);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(header_json.begin(), header_json.end(),
                                   &handler);
  } catch (const nlohmann::json::exception& e) {  // not expected: belt only
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header: not valid JSON: ", e.what()));
  }
  if (!handler.status.ok()) return handler.status;
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header: not valid JSON"));
  }
  return absl::OkStatus();
}

}  // namespace trilemma
