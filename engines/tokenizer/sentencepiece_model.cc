#include "engines/tokenizer/sentencepiece_model.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <cstring>
#include <functional>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trilemma {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// Reads one message's fields from a CodedInputStream bounded by a limit;
// each error names the file and the field path (e.g. "pieces[3].score").
class WireReader {
 public:
  WireReader(CodedInputStream* in, const std::string& file)
      : in_(in), file_(file) {}

  absl::Status Error(const std::string& field, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": ", field, ": ", what));
  }

  // Calls on_field(number, wire_type) for every field up to the current
  // limit; on_field reads the value (or returns false to have it skipped).
  absl::Status ForEachField(
      const std::string& where,
      const std::function<absl::StatusOr<bool>(int, int)>& on_field) {
    while (in_->BytesUntilLimit() > 0) {
      const uint32_t tag = in_->ReadTag();
      if (tag == 0) return Error(where, "malformed field tag");
      const int number = WireFormatLite::GetTagFieldNumber(tag);
      const int wire_type = WireFormatLite::GetTagWireType(tag);
      absl::StatusOr<bool> handled = on_field(number, wire_type);
      if (!handled.ok()) return handled.status();
      if (!*handled && !WireFormatLite::SkipField(in_, tag)) {
        return Error(where, absl::StrCat("field ", number, " is truncated"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Expect(int wire_type, int expected, const std::string& field) {
    if (wire_type == expected) return absl::OkStatus();
    return Error(
        field, absl::StrCat("wire type ", wire_type, ", expected ", expected));
  }

  absl::StatusOr<std::string> String(int wire_type, const std::string& field) {
    if (absl::Status s =
            Expect(wire_type, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, field);
        !s.ok()) {
      return s;
    }
    uint32_t length = 0;
    std::string value;
    if (!in_->ReadVarint32(&length) ||
        static_cast<int64_t>(length) > in_->BytesUntilLimit() ||
        !in_->ReadString(&value, static_cast<int>(length))) {
      return Error(field, "truncated");
    }
    return value;
  }

  absl::StatusOr<int64_t> Varint(int wire_type, const std::string& field) {
    if (absl::Status s =
            Expect(wire_type, WireFormatLite::WIRETYPE_VARINT, field);
        !s.ok()) {
      return s;
    }
    uint64_t value = 0;
    if (!in_->ReadVarint64(&value)) return Error(field, "truncated");
    return static_cast<int64_t>(value);
  }

  absl::StatusOr<int32_t> Int32(int wire_type, const std::string& field) {
    absl::StatusOr<int64_t> v = Varint(wire_type, field);
    if (!v.ok()) return v.status();
    // int32 fields are sign-extended to 64 bits on the wire.
    if (*v < std::numeric_limits<int32_t>::min() ||
        *v > std::numeric_limits<int32_t>::max()) {
      return Error(field, absl::StrCat(*v, " is outside int32"));
    }
    return static_cast<int32_t>(*v);
  }

  absl::StatusOr<bool> Bool(int wire_type, const std::string& field) {
    absl::StatusOr<int64_t> v = Varint(wire_type, field);
    if (!v.ok()) return v.status();
    return *v != 0;
  }

  absl::StatusOr<float> Float(int wire_type, const std::string& field) {
    if (absl::Status s =
            Expect(wire_type, WireFormatLite::WIRETYPE_FIXED32, field);
        !s.ok()) {
      return s;
    }
    uint32_t bits = 0;
    if (!in_->ReadLittleEndian32(&bits)) return Error(field, "truncated");
    float value = 0;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
  }

  // Reads a length-delimited sub-message with `body` inside its limit.
  absl::Status Message(int wire_type, const std::string& field,
                       const std::function<absl::Status()>& body) {
    if (absl::Status s =
            Expect(wire_type, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, field);
        !s.ok()) {
      return s;
    }
    uint32_t length = 0;
    if (!in_->ReadVarint32(&length) ||
        static_cast<int64_t>(length) > in_->BytesUntilLimit()) {
      return Error(field, "truncated");
    }
    const CodedInputStream::Limit limit =
        in_->PushLimit(static_cast<int>(length));
    absl::Status s = body();
    in_->PopLimit(limit);
    return s;
  }

 private:
  CodedInputStream* in_;
  const std::string& file_;
};

absl::Status ReadPiece(WireReader& r, const std::string& where,
                       SentencePieceModel::Piece* piece) {
  return r.ForEachField(
      where, [&](int number, int wire) -> absl::StatusOr<bool> {
        if (number == 1) {
          absl::StatusOr<std::string> v = r.String(wire, where + ".piece");
          if (!v.ok()) return v.status();
          piece->piece = *std::move(v);
        } else if (number == 2) {
          absl::StatusOr<float> v = r.Float(wire, where + ".score");
          if (!v.ok()) return v.status();
          piece->score = *v;
        } else if (number == 3) {
          absl::StatusOr<int32_t> v = r.Int32(wire, where + ".type");
          if (!v.ok()) return v.status();
          if (*v < SentencePieceModel::kNormal ||
              *v > SentencePieceModel::kByte) {
            return r.Error(where + ".type", absl::StrCat(*v, " is not a type"));
          }
          piece->type = static_cast<SentencePieceModel::PieceType>(*v);
        } else {
          return false;
        }
        return true;
      });
}

absl::Status ReadTrainerSpec(WireReader& r, SentencePieceModel* m) {
  const std::string where = "trainer_spec";
  return r.ForEachField(
      where, [&](int number, int wire) -> absl::StatusOr<bool> {
        const auto int_field = [&](const char* name,
                                   int32_t* out) -> absl::StatusOr<bool> {
          absl::StatusOr<int32_t> v =
              r.Int32(wire, absl::StrCat(where, ".", name));
          if (!v.ok()) return v.status();
          *out = *v;
          return true;
        };
        const auto bool_field = [&](const char* name,
                                    bool* out) -> absl::StatusOr<bool> {
          absl::StatusOr<bool> v = r.Bool(wire, absl::StrCat(where, ".", name));
          if (!v.ok()) return v.status();
          *out = *v;
          return true;
        };
        switch (number) {
          case 3: {
            int32_t type = 0;
            absl::StatusOr<bool> ok = int_field("model_type", &type);
            if (!ok.ok()) return ok;
            if (type < SentencePieceModel::kUnigram ||
                type > SentencePieceModel::kChar) {
              return r.Error(where + ".model_type",
                             absl::StrCat(type, " is not a model type"));
            }
            m->model_type = static_cast<SentencePieceModel::ModelType>(type);
            return true;
          }
          case 24:
            return bool_field("treat_whitespace_as_suffix",
                              &m->treat_whitespace_as_suffix);
          case 35:
            return bool_field("byte_fallback", &m->byte_fallback);
          case 40:
            return int_field("unk_id", &m->unk_id);
          case 41:
            return int_field("bos_id", &m->bos_id);
          case 42:
            return int_field("eos_id", &m->eos_id);
          case 43:
            return int_field("pad_id", &m->pad_id);
          case 44: {
            absl::StatusOr<std::string> v =
                r.String(wire, where + ".unk_surface");
            if (!v.ok()) return v.status();
            m->unk_surface = *std::move(v);
            return true;
          }
          default:
            return false;
        }
      });
}

absl::Status ReadNormalizerSpec(WireReader& r, const std::string& where,
                                SentencePieceModel::Normalizer* n) {
  return r.ForEachField(
      where, [&](int number, int wire) -> absl::StatusOr<bool> {
        std::string* text = nullptr;
        bool* flag = nullptr;
        const char* name = "";
        switch (number) {
          case 1:
            text = &n->name, name = "name";
            break;
          case 2:
            text = &n->precompiled_charsmap, name = "precompiled_charsmap";
            break;
          case 3:
            flag = &n->add_dummy_prefix, name = "add_dummy_prefix";
            break;
          case 4:
            flag = &n->remove_extra_whitespaces,
            name = "remove_extra_whitespaces";
            break;
          case 5:
            flag = &n->escape_whitespaces, name = "escape_whitespaces";
            break;
          case 6:
            text = &n->normalization_rule_tsv, name = "normalization_rule_tsv";
            break;
          default:
            return false;
        }
        const std::string field = absl::StrCat(where, ".", name);
        if (text != nullptr) {
          absl::StatusOr<std::string> v = r.String(wire, field);
          if (!v.ok()) return v.status();
          *text = *std::move(v);
        } else {
          absl::StatusOr<bool> v = r.Bool(wire, field);
          if (!v.ok()) return v.status();
          *flag = *v;
        }
        return true;
      });
}

}  // namespace

absl::StatusOr<SentencePieceModel> ParseSentencePieceModel(
    absl::string_view bytes, const std::string& file) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": ", bytes.size(), " bytes is too large"));
  }
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  const CodedInputStream::Limit whole =
      in.PushLimit(static_cast<int>(bytes.size()));
  WireReader r(&in, file);
  SentencePieceModel m;
  absl::Status s = r.ForEachField(
      "ModelProto", [&](int number, int wire) -> absl::StatusOr<bool> {
        switch (number) {
          case 1: {
            if (m.pieces.size() >= static_cast<size_t>(kMaxSentencePieces)) {
              return r.Error("pieces",
                             absl::StrCat("more than ", kMaxSentencePieces));
            }
            const std::string where =
                absl::StrCat("pieces[", m.pieces.size(), "]");
            SentencePieceModel::Piece& piece = m.pieces.emplace_back();
            if (absl::Status s = r.Message(
                    wire, where, [&] { return ReadPiece(r, where, &piece); });
                !s.ok()) {
              return s;
            }
            return true;
          }
          case 2: {
            absl::Status s = r.Message(wire, "trainer_spec",
                                       [&] { return ReadTrainerSpec(r, &m); });
            if (!s.ok()) return s;
            return true;
          }
          case 3:
          case 5: {
            const bool de = number == 5;
            const std::string where =
                de ? "denormalizer_spec" : "normalizer_spec";
            m.has_denormalizer |= de;
            SentencePieceModel::Normalizer* n =
                de ? &m.denormalizer : &m.normalizer;
            absl::Status s = r.Message(
                wire, where, [&] { return ReadNormalizerSpec(r, where, n); });
            if (!s.ok()) return s;
            return true;
          }
          default:
            return false;
        }
      });
  in.PopLimit(whole);
  if (!s.ok()) return s;
  return m;
}

}  // namespace trilemma
