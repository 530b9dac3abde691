#include "engines/tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace trilemma {

absl::StatusOr<UnicodeNormalizer> UnicodeNormalizer::ForForm(
    absl::string_view form, const std::string& where) {
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* icu = nullptr;
  if (form == "NFC") {
    icu = icu::Normalizer2::getNFCInstance(error);
  } else if (form == "NFKC") {
    icu = icu::Normalizer2::getNFKCInstance(error);
  } else if (form == "NFD") {
    icu = icu::Normalizer2::getNFDInstance(error);
  } else if (form == "NFKD") {
    icu = icu::Normalizer2::getNFKDInstance(error);
  } else {
    return absl::UnimplementedError(
        absl::StrCat(where, ": normalizer '", form,
                     "' not supported; supported: NFC, NFKC, NFD, NFKD"));
  }
  if (U_FAILURE(error) || icu == nullptr) {
    return absl::InternalError(absl::StrCat(where, ": ICU has no ", form,
                                            " data: ", u_errorName(error)));
  }
  return UnicodeNormalizer(icu);
}

absl::StatusOr<std::string> UnicodeNormalizer::Normalize(
    absl::string_view text) const {
  const auto* icu = static_cast<const icu::Normalizer2*>(icu_);
  std::string out;
  icu::StringByteSink<std::string> sink(&out,
                                        static_cast<int32_t>(text.size()));
  UErrorCode error = U_ZERO_ERROR;
  icu->normalizeUTF8(0, icu::StringPiece(text.data(), text.size()), sink,
                     nullptr, error);
  if (U_FAILURE(error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Unicode normalization failed: ", u_errorName(error)));
  }
  return out;
}

}  // namespace trilemma
