// SentencePieceLibrary: the few calls SentencePieceTokenizer makes into
// Debian's libsentencepiece, behind a header that uses only the standard
// library. The library's own header defines absl::string_view as an alias
// of std::string_view, which clashes with the real Abseil the rest of the
// project uses, so only sentencepiece_library.cc includes it.
//
// Example:
//   std::string error;
//   auto sp = SentencePieceLibrary::Load(serialized_model, &error);
//   std::vector<int> ids;
//   if (sp && sp->Encode("Hello", &ids, &error)) { ... }
//
// Thread-safe: const after Load.
#ifndef TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_LIBRARY_H_
#define TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_LIBRARY_H_

#include <memory>
#include <string>
#include <vector>

namespace trilemma {

class SentencePieceLibrary {
 public:
  // Null, with the library's message in `error`, when it refuses the model.
  static std::unique_ptr<SentencePieceLibrary> Load(
      const std::string& serialized, std::string* error);
  ~SentencePieceLibrary();

  int PieceSize() const;
  std::string IdToPiece(int id) const;
  bool IsControl(int id) const;
  bool IsUnused(int id) const;
  bool IsUnknown(int id) const;
  bool IsByte(int id) const;
  // False, with the library's message in `error`, on failure.
  bool Encode(const std::string& text, std::vector<int>* ids,
              std::string* error) const;
  // The library's own decoding (for tests against it).
  std::string Decode(const std::vector<int>& ids) const;

 private:
  struct Processor;
  explicit SentencePieceLibrary(std::unique_ptr<Processor> processor);
  std::unique_ptr<Processor> processor_;
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_TOKENIZER_SENTENCEPIECE_LIBRARY_H_
