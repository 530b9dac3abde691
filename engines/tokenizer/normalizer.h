// UnicodeNormalizer: the Unicode normalization forms a tokenizer.json
// "normalizer" may ask for (NFC for GPT-NeoX/Pythia, NFKC, NFD, NFKD),
// through ICU (docs/tokenizers.md).
//
// Example:
//   absl::StatusOr<UnicodeNormalizer> nfc =
//       UnicodeNormalizer::ForForm("NFC", "tokenizer.json: normalizer");
//   std::string out = nfc->Normalize("e\u0301").value();  // "\u00e9"
//
// Thread-safe: ICU's normalizer instances are immutable singletons.
#ifndef TRILEMMA_ENGINES_TOKENIZER_NORMALIZER_H_
#define TRILEMMA_ENGINES_TOKENIZER_NORMALIZER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trilemma {

class UnicodeNormalizer {
 public:
  // `form` is "NFC", "NFKC", "NFD" or "NFKD"; else UNIMPLEMENTED
  // "`where`: normalizer 'X' not supported ...".
  static absl::StatusOr<UnicodeNormalizer> ForForm(absl::string_view form,
                                                   const std::string& where);

  // `text` (valid UTF-8) in this normalization form.
  absl::StatusOr<std::string> Normalize(absl::string_view text) const;

 private:
  explicit UnicodeNormalizer(const void* icu) : icu_(icu) {}
  const void* icu_;  // the const icu::Normalizer2*, owned by ICU
};

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_TOKENIZER_NORMALIZER_H_
