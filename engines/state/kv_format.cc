#include "engines/state/kv_format.h"

namespace trilemma {

std::string_view KvDtypeName(KvDtype dtype) {
  switch (dtype) {
    case KvDtype::kF32:
      return "f32";
    case KvDtype::kF16:
      return "f16";
    case KvDtype::kInt8:
      return "int8";
    case KvDtype::kInt4:
      return "int4";
  }
  return "f32";
}

std::vector<std::string> KvDtypeNames() {
  return {"f32", "f16", "int8", "int4"};
}

KvDtype KvDtypeFromName(std::string_view name) {
  if (name == "f16") return KvDtype::kF16;
  if (name == "int8") return KvDtype::kInt8;
  if (name == "int4") return KvDtype::kInt4;
  return KvDtype::kF32;
}

}  // namespace trilemma
