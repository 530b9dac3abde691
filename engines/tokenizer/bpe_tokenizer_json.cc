// BpeTokenizer::FromJson: reading and validating tokenizer.json.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engines/tokenizer/bpe_tokenizer.h"
#include "engines/weights/json_util.h"
#include "nlohmann/json.hpp"

namespace trilemma {
namespace {

// A tokenizer.json holds one value per vocab entry and per merge (three for
// the ["a", "b"] form): about 0.4M for Llama-3, 1.2M for a 150k-vocab model
// with list merges.
constexpr int64_t kMaxJsonValues = 8'000'000;

// The GPT-2 split pattern ByteLevel applies when "use_regex" is set.
constexpr absl::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

}  // namespace

// Builds a BpeTokenizer from the parsed JSON; every error names the file
// and the key path.
class BpeTokenizer::Parser {
 public:
  Parser(BpeTokenizer* tok, const std::string& file) : tok_(tok), file_(file) {}

  absl::Status Parse(const nlohmann::json& root) {
    if (!root.is_object()) return Error("", "must be a JSON object");
    auto model = root.find("model");
    if (model == root.end() || !model->is_object()) {
      return Error("model", "missing or not an object");
    }
    if (absl::Status s = Model(*model); !s.ok()) return s;
    if (absl::Status s = Added(Get(root, "added_tokens")); !s.ok()) return s;
    if (absl::Status s = Normalizer(Get(root, "normalizer"), "normalizer");
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            PreTokenizer(Get(root, "pre_tokenizer"), "pre_tokenizer");
        !s.ok()) {
      return s;
    }
    if (!byte_level_) {
      return Unsupported(
          "pre_tokenizer",
          "has no ByteLevel step; only byte-level BPE is supported");
    }
    return Decoder(Get(root, "decoder"), "decoder");
  }

 private:
  static const nlohmann::json& Get(const nlohmann::json& object,
                                   const char* key) {
    static const nlohmann::json kNull;
    auto it = object.find(key);
    return it == object.end() ? kNull : *it;
  }

  absl::Status Error(absl::string_view key, absl::string_view what) const {
    return absl::InvalidArgumentError(
        key.empty() ? absl::StrCat(file_, ": ", what)
                    : absl::StrCat(file_, ": ", key, ": ", what));
  }
  // Well formed, but not something this implementation does.
  absl::Status Unsupported(absl::string_view key,
                           absl::string_view what) const {
    return absl::UnimplementedError(absl::StrCat(file_, ": ", key, ": ", what));
  }

  absl::StatusOr<bool> Bool(const nlohmann::json& object, const char* key,
                            bool fallback, absl::string_view where) const {
    const nlohmann::json& v = Get(object, key);
    if (v.is_null()) return fallback;
    if (!v.is_boolean()) {
      return Error(
          absl::StrCat(where, ".", key),
          absl::StrCat("must be true or false, got ", JsonTypeName(v)));
    }
    return v.get<bool>();
  }

  absl::StatusOr<std::string> Type(const nlohmann::json& v,
                                   absl::string_view where) const {
    const nlohmann::json& type = Get(v, "type");
    if (!type.is_string()) {
      return Error(where, "needs a string \"type\"");
    }
    return type.get<std::string>();
  }

  absl::Status Assign(int32_t id, std::string text, bool added,
                      absl::string_view where) {
    if (id < 0 || id >= kMaxVocab) {
      return Error(where,
                   absl::StrCat("id ", id, " outside [0, ", kMaxVocab, ")"));
    }
    if (static_cast<size_t>(id) >= tok_->tokens_.size()) {
      tok_->tokens_.resize(id + 1);
    }
    TokenEntry& entry = tok_->tokens_[id];
    if (entry.assigned && !added) {
      return Error(where, absl::StrCat("id ", id, " is used twice"));
    }
    entry.assigned = true;
    entry.added = added;
    if (added) {
      entry.bytes = text;
    } else {
      // Each character of a vocab token stands for one byte; a token with
      // a character outside the alphabet decodes to its own UTF-8, as the
      // tokenizers library's ByteLevel decoder does.
      entry.bytes.clear();
      const std::string& token = text;
      bool mapped = true;
      for (size_t i = 0; i < token.size() && mapped;) {
        const uint8_t lead = static_cast<uint8_t>(token[i]);
        char32_t c = lead;
        size_t len = 1;
        if (lead >= 0xC0 && lead < 0xE0 && i + 1 < token.size()) {
          c = ((lead & 0x1F) << 6) |
              (static_cast<uint8_t>(token[i + 1]) & 0x3F);
          len = 2;
        } else if (lead >= 0x80) {
          mapped = false;
          break;
        }
        auto it = char_to_byte_.find(c);
        if (it == char_to_byte_.end()) {
          mapped = false;
        } else {
          entry.bytes.push_back(static_cast<char>(it->second));
        }
        i += len;
      }
      if (!mapped) entry.bytes = token;
    }
    tok_->token_ids_.insert_or_assign(std::move(text), id);
    return absl::OkStatus();
  }

  absl::Status Model(const nlohmann::json& model) {
    const nlohmann::json& type = Get(model, "type");
    if (!type.is_null() && (!type.is_string() || type != "BPE")) {
      return Unsupported("model.type",
                         absl::StrCat("model type ", JsonForError(type),
                                      " not supported; supported: \"BPE\""));
    }
    for (int b = 0; b < 256; ++b) {
      char_to_byte_[ByteLevelChar(static_cast<uint8_t>(b))] = b;
    }
    const nlohmann::json& vocab = Get(model, "vocab");
    if (!vocab.is_object()) {
      return Error("model.vocab",
                   vocab.is_null() ? "missing"
                                   : absl::StrCat("must be an object of token: "
                                                  "id, got ",
                                                  JsonTypeName(vocab)));
    }
    for (const auto& [token, id] : vocab.items()) {
      if (!id.is_number_integer()) {
        return Error(
            absl::StrCat("model.vocab[", NameForError(token), "]"),
            absl::StrCat("id must be an integer, got ", JsonForError(id)));
      }
      const int64_t value = id.get<int64_t>();
      if (absl::Status s = Assign(
              static_cast<int32_t>(std::clamp<int64_t>(value, -1, kMaxVocab)),
              token, false,
              absl::StrCat("model.vocab[", NameForError(token), "]"));
          !s.ok()) {
        return s;
      }
    }
    for (int b = 0; b < 256; ++b) {
      std::string symbol;
      AppendUtf8(ByteLevelChar(static_cast<uint8_t>(b)), &symbol);
      const int32_t id = tok_->TokenId(symbol);
      if (id < 0) {
        return Error("model.vocab",
                     absl::StrCat("has no token for byte ", b, " (",
                                  NameForError(symbol),
                                  "); a byte-level BPE vocab has all 256"));
      }
      tok_->byte_ids_[b] = id;
    }
    for (const char* key :
         {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const nlohmann::json& v = Get(model, key);
      if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty())) {
        return Unsupported(absl::StrCat("model.", key), "not supported");
      }
    }
    absl::StatusOr<bool> fallback =
        Bool(model, "byte_fallback", false, "model");
    if (!fallback.ok()) return fallback.status();
    if (*fallback) {
      return Unsupported("model.byte_fallback", "true not supported");
    }
    const nlohmann::json& dropout = Get(model, "dropout");
    if (!dropout.is_null() &&
        !(dropout.is_number() && dropout.get<double>() == 0)) {
      return Unsupported("model.dropout",
                         "not supported (encoding must be deterministic)");
    }
    absl::StatusOr<bool> ignore = Bool(model, "ignore_merges", false, "model");
    if (!ignore.ok()) return ignore.status();
    tok_->ignore_merges_ = *ignore;
    return Merges(Get(model, "merges"));
  }

  absl::Status Merges(const nlohmann::json& merges) {
    if (!merges.is_array()) {
      return Error("model.merges", merges.is_null()
                                       ? "missing"
                                       : absl::StrCat("must be an array, got ",
                                                      JsonTypeName(merges)));
    }
    int32_t rank = 0;
    for (const nlohmann::json& merge : merges) {
      const std::string where = absl::StrCat("model.merges[", rank, "]");
      std::string left;
      std::string right;
      if (merge.is_string()) {
        const std::string& line = merge.get_ref<const std::string&>();
        const size_t space = line.find(' ');
        if (space == std::string::npos ||
            line.find(' ', space + 1) != std::string::npos) {
          return Error(where, absl::StrCat("must be \"left right\", got ",
                                           JsonForError(merge)));
        }
        left = line.substr(0, space);
        right = line.substr(space + 1);
      } else if (merge.is_array() && merge.size() == 2 &&
                 merge[0].is_string() && merge[1].is_string()) {
        left = merge[0].get<std::string>();
        right = merge[1].get<std::string>();
      } else {
        return Error(where, absl::StrCat("must be \"left right\" or [left, "
                                         "right], got ",
                                         JsonForError(merge)));
      }
      const int32_t a = tok_->TokenId(left);
      const int32_t b = tok_->TokenId(right);
      const int32_t merged = tok_->TokenId(left + right);
      for (const auto& [id, name] : {std::pair(a, left), std::pair(b, right),
                                     std::pair(merged, left + right)}) {
        if (id < 0) {
          return Error(where, absl::StrCat("refers to ", NameForError(name),
                                           ", which is not in model.vocab"));
        }
      }
      tok_->merges_.insert_or_assign(
          (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
              static_cast<uint32_t>(b),
          Merge{rank, merged});
      ++rank;
    }
    return absl::OkStatus();
  }

  absl::Status Added(const nlohmann::json& added) {
    if (added.is_null()) return absl::OkStatus();
    if (!added.is_array()) {
      return Error("added_tokens",
                   absl::StrCat("must be an array, got ", JsonTypeName(added)));
    }
    for (size_t i = 0; i < added.size(); ++i) {
      const std::string where = absl::StrCat("added_tokens[", i, "]");
      const nlohmann::json& t = added[i];
      if (!t.is_object()) return Error(where, "must be an object");
      const nlohmann::json& id = Get(t, "id");
      const nlohmann::json& content = Get(t, "content");
      if (!id.is_number_integer()) {
        return Error(where + ".id", "must be an integer");
      }
      if (!content.is_string() || content.get<std::string>().empty()) {
        return Error(where + ".content", "must be a non-empty string");
      }
      absl::StatusOr<bool> special = Bool(t, "special", false, where);
      if (!special.ok()) return special.status();
      const int32_t value = static_cast<int32_t>(
          std::clamp<int64_t>(id.get<int64_t>(), -1, kMaxVocab));
      const std::string text = content.get<std::string>();
      const int32_t existing = tok_->TokenId(text);
      if (value >= 0 && static_cast<size_t>(value) < tok_->tokens_.size() &&
          tok_->tokens_[value].assigned && existing != value) {
        return Error(where, absl::StrCat("id ", value,
                                         " already belongs to another token"));
      }
      if (absl::Status s = Assign(value, text, true, where); !s.ok()) return s;
      tok_->added_.push_back({value, text, *special});
    }
    for (size_t i = 0; i < tok_->added_.size(); ++i) {
      const std::string& content = tok_->added_[i].content;
      tok_->added_by_first_byte_[static_cast<uint8_t>(content[0])].push_back(
          static_cast<int32_t>(i));
    }
    for (auto& list : tok_->added_by_first_byte_) {
      std::stable_sort(list.begin(), list.end(), [&](int32_t a, int32_t b) {
        return tok_->added_[a].content.size() > tok_->added_[b].content.size();
      });
    }
    return absl::OkStatus();
  }

  absl::Status Normalizer(const nlohmann::json& n, const std::string& where) {
    if (n.is_null()) return absl::OkStatus();
    absl::StatusOr<std::string> type = Type(n, where);
    if (!type.ok()) return type.status();
    if (*type == "Sequence") {
      const nlohmann::json& list = Get(n, "normalizers");
      if (!list.is_array())
        return Error(where, "needs a \"normalizers\" array");
      for (size_t i = 0; i < list.size(); ++i) {
        if (absl::Status s = Normalizer(
                list[i], absl::StrCat(where, ".normalizers[", i, "]"));
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    }
    absl::StatusOr<UnicodeNormalizer> form =
        UnicodeNormalizer::ForForm(*type, absl::StrCat(file_, ": ", where));
    if (!form.ok()) return form.status();
    tok_->normalizers_.push_back(*form);
    return absl::OkStatus();
  }

  absl::Status PreTokenizer(const nlohmann::json& p, const std::string& where) {
    if (p.is_null()) return absl::OkStatus();
    absl::StatusOr<std::string> type = Type(p, where);
    if (!type.ok()) return type.status();
    PreTokenizerStep step;
    if (*type == "Sequence") {
      const nlohmann::json& list = Get(p, "pretokenizers");
      if (!list.is_array()) {
        return Error(where, "needs a \"pretokenizers\" array");
      }
      for (size_t i = 0; i < list.size(); ++i) {
        if (absl::Status s = PreTokenizer(
                list[i], absl::StrCat(where, ".pretokenizers[", i, "]"));
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    }
    if (*type == "ByteLevel") {
      absl::StatusOr<bool> prefix = Bool(p, "add_prefix_space", true, where);
      if (!prefix.ok()) return prefix.status();
      absl::StatusOr<bool> use_regex = Bool(p, "use_regex", true, where);
      if (!use_regex.ok()) return use_regex.status();
      step.add_prefix_space = *prefix;
      if (*use_regex) {
        absl::StatusOr<std::unique_ptr<Regex>> re =
            Regex::Compile(kGpt2Pattern, false, file_);
        if (!re.ok()) return re.status();
        step.regex = *std::move(re);
      }
      byte_level_ = true;
    } else if (*type == "Split") {
      const nlohmann::json& pattern = Get(p, "pattern");
      const nlohmann::json& regex = Get(pattern, "Regex");
      const nlohmann::json& literal = Get(pattern, "String");
      if (!pattern.is_object() ||
          (!regex.is_string() && !literal.is_string())) {
        return Error(where + ".pattern",
                     "must be {\"Regex\": \"...\"} or {\"String\": \"...\"}");
      }
      const bool is_literal = !regex.is_string();
      absl::StatusOr<std::unique_ptr<Regex>> re = Regex::Compile(
          (is_literal ? literal : regex).get_ref<const std::string&>(),
          is_literal, absl::StrCat(file_, ": ", where, ".pattern"));
      if (!re.ok()) return re.status();
      step.regex = *std::move(re);
      const nlohmann::json& behavior = Get(p, "behavior");
      static const std::pair<const char*, SplitBehavior> kBehaviors[] = {
          {"Isolated", SplitBehavior::kIsolated},
          {"Removed", SplitBehavior::kRemoved},
          {"MergedWithPrevious", SplitBehavior::kMergedWithPrevious},
          {"MergedWithNext", SplitBehavior::kMergedWithNext},
          {"Contiguous", SplitBehavior::kContiguous}};
      bool known = false;
      for (const auto& [name, value] : kBehaviors) {
        if (behavior.is_string() && behavior == name) {
          step.behavior = value;
          known = true;
        }
      }
      if (!known) {
        return Error(
            where + ".behavior",
            absl::StrCat("unknown split behavior ", JsonForError(behavior)));
      }
      absl::StatusOr<bool> invert = Bool(p, "invert", false, where);
      if (!invert.ok()) return invert.status();
      step.invert = *invert;
    } else {
      return Unsupported(where, absl::StrCat("pre-tokenizer '", *type,
                                             "' not supported; supported: "
                                             "ByteLevel, Split, Sequence"));
    }
    tok_->pre_tokenizers_.push_back(std::move(step));
    return absl::OkStatus();
  }

  absl::Status Decoder(const nlohmann::json& d, const std::string& where) {
    if (d.is_null()) return absl::OkStatus();
    absl::StatusOr<std::string> type = Type(d, where);
    if (!type.ok()) return type.status();
    if (*type == "ByteLevel") return absl::OkStatus();
    if (*type == "Sequence") {
      const nlohmann::json& list = Get(d, "decoders");
      if (!list.is_array()) return Error(where, "needs a \"decoders\" array");
      for (size_t i = 0; i < list.size(); ++i) {
        if (absl::Status s =
                Decoder(list[i], absl::StrCat(where, ".decoders[", i, "]"));
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    }
    return Unsupported(where,
                       absl::StrCat("decoder '", *type,
                                    "' not supported; supported: ByteLevel"));
  }

  BpeTokenizer* tok_;
  const std::string& file_;
  absl::flat_hash_map<char32_t, int> char_to_byte_;
  bool byte_level_ = false;
};

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::FromJson(
    absl::string_view json, const std::string& file) {
  absl::StatusOr<nlohmann::json> root = ParseJson(json, file, kMaxJsonValues);
  if (!root.ok()) return root.status();
  std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer());
  tok->file_ = file;
  Parser parser(tok.get(), file);
  if (absl::Status s = parser.Parse(*root); !s.ok()) return s;
  return tok;
}

}  // namespace trilemma
