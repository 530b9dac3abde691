// SentencePieceModel: the part of a SentencePiece `tokenizer.model` (a
// serialized sentencepiece.ModelProto) that encoding and decoding need,
// read from the protobuf wire format with protobuf's CodedInputStream
// (docs/tokenizers.md says which fields and values are supported).
//
// Example:
//   absl::StatusOr<SentencePieceModel> model =
//       ParseSentencePieceModel(bytes, "/models/llama2/tokenizer.model");
//   if (model.ok()) std::cout << model->pieces.size() << " pieces\n";
//
// Field numbers follow sentencepiece_model.proto: ModelProto{pieces = 1,
// trainer_spec = 2, normalizer_spec = 3, denormalizer_spec = 5};
// SentencePiece{piece = 1, score = 2, type = 3}; TrainerSpec{model_type = 3,
// treat_whitespace_as_suffix = 24, byte_fallback = 35, unk_id = 40, bos_id =
// 41, eos_id = 42, pad_id = 43, unk_surface = 44}; NormalizerSpec{name = 1,
// precompiled_charsmap = 2, add_dummy_prefix = 3, remove_extra_whitespaces =
// 4, escape_whitespaces = 5, normalization_rule_tsv = 6}. Other fields are
// skipped.
//
// Thread-safe (no shared state).
#ifndef TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_MODEL_H_
#define TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trilemma {

struct SentencePieceModel {
  // sentencepiece.ModelProto.SentencePiece.Type
  enum PieceType : int32_t {
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6,
  };
  // sentencepiece.TrainerSpec.ModelType
  enum ModelType : int32_t { kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4 };

  struct Piece {
    std::string piece;
    float score = 0;
    PieceType type = kNormal;
  };
  struct Normalizer {
    std::string name;
    std::string precompiled_charsmap;
    std::string normalization_rule_tsv;
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = true;
    bool escape_whitespaces = true;
  };

  std::vector<Piece> pieces;  // by id
  ModelType model_type = kUnigram;
  bool treat_whitespace_as_suffix = false;
  bool byte_fallback = false;
  int32_t unk_id = 0;
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t pad_id = -1;
  std::string unk_surface = " \xE2\x81\x87 ";  // " ⁇ ", the proto's default
  Normalizer normalizer;
  bool has_denormalizer = false;
  Normalizer denormalizer;
};

// Reads the wire format only (no semantic checks beyond types and enum
// ranges). INVALID_ARGUMENT "`file`: <field>: ..." for bytes that are not a
// ModelProto: a truncated or malformed field, a wrong wire type, an enum
// value outside the schema, more than kMaxPieces pieces.
absl::StatusOr<SentencePieceModel> ParseSentencePieceModel(
    absl::string_view bytes, const std::string& file);

// Pieces above this are refused (bounds what a file can make us allocate;
// real models have 32k-256k).
inline constexpr int32_t kMaxSentencePieces = 1 << 22;

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_MODEL_H_
