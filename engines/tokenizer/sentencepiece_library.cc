// Includes nothing from Abseil: see sentencepiece_library.h.
#include "engines/tokenizer/sentencepiece_library.h"

#include <sentencepiece_processor.h>

#include <utility>

namespace trilemma {

struct SentencePieceLibrary::Processor {
  sentencepiece::SentencePieceProcessor sp;
};

SentencePieceLibrary::SentencePieceLibrary(std::unique_ptr<Processor> processor)
    : processor_(std::move(processor)) {}

SentencePieceLibrary::~SentencePieceLibrary() = default;

std::unique_ptr<SentencePieceLibrary> SentencePieceLibrary::Load(
    const std::string& serialized, std::string* error) {
  auto processor = std::make_unique<Processor>();
  const sentencepiece::util::Status status =
      processor->sp.LoadFromSerializedProto(serialized);
  if (!status.ok()) {
    *error = status.ToString();
    return nullptr;
  }
  return std::unique_ptr<SentencePieceLibrary>(
      new SentencePieceLibrary(std::move(processor)));
}

int SentencePieceLibrary::PieceSize() const {
  return processor_->sp.GetPieceSize();
}
std::string SentencePieceLibrary::IdToPiece(int id) const {
  return processor_->sp.IdToPiece(id);
}
bool SentencePieceLibrary::IsControl(int id) const {
  return processor_->sp.IsControl(id);
}
bool SentencePieceLibrary::IsUnused(int id) const {
  return processor_->sp.IsUnused(id);
}
bool SentencePieceLibrary::IsUnknown(int id) const {
  return processor_->sp.IsUnknown(id);
}
bool SentencePieceLibrary::IsByte(int id) const {
  return processor_->sp.IsByte(id);
}

bool SentencePieceLibrary::Encode(const std::string& text,
                                  std::vector<int>* ids,
                                  std::string* error) const {
  const sentencepiece::util::Status status = processor_->sp.Encode(text, ids);
  if (!status.ok()) {
    *error = status.ToString();
    return false;
  }
  return true;
}

std::string SentencePieceLibrary::Decode(const std::vector<int>& ids) const {
  return processor_->sp.DecodeIds(ids);
}

}  // namespace trilemma
