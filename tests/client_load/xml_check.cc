#include "tests/client_load/xml_check.h"

#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace trilemma::testing {
namespace {

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
         c == ':' || c == '.';
}

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<XmlElement> Document() {
    SkipMisc();
    if (Starts("<?xml")) {
      const size_t end = text_.find("?>", pos_);
      if (end == absl::string_view::npos) return Error("unterminated prolog");
      pos_ = end + 2;
    }
    SkipMisc();
    if (!Starts("<")) return Error("expected the root element");
    absl::StatusOr<XmlElement> root = Element();
    if (!root.ok()) return root;
    SkipMisc();
    if (pos_ != text_.size()) return Error("content after the root element");
    return root;
  }

 private:
  absl::Status Error(absl::string_view why) const {
    return absl::InvalidArgumentError(
        absl::StrCat("xml at offset ", pos_, ": ", why));
  }
  bool Starts(absl::string_view s) const {
    return text_.substr(pos_, s.size()) == s;
  }
  void SkipSpace() {
    while (pos_ < text_.size() &&
           std::isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }
  // Whitespace and comments.
  void SkipMisc() {
    while (true) {
      SkipSpace();
      if (!Starts("<!--")) return;
      const size_t end = text_.find("-->", pos_);
      pos_ = end == absl::string_view::npos ? text_.size() : end + 3;
    }
  }
  std::string Name() {
    const size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    return std::string{text_.substr(start, pos_ - start)};
  }
  absl::StatusOr<std::string> Decode(absl::string_view raw) const {
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '<') return Error("bare '<' in text or attribute");
      if (raw[i] != '&') {
        out += raw[i];
        continue;
      }
      const size_t semi = raw.find(';', i);
      if (semi == absl::string_view::npos) return Error("unterminated entity");
      const absl::string_view entity = raw.substr(i + 1, semi - i - 1);
      if (entity == "amp") {
        out += '&';
      } else if (entity == "lt") {
        out += '<';
      } else if (entity == "gt") {
        out += '>';
      } else if (entity == "quot") {
        out += '"';
      } else if (entity == "apos") {
        out += '\'';
      } else if (!entity.empty() && entity[0] == '#') {
        uint32_t code;
        const bool hex = entity.size() > 1 && entity[1] == 'x';
        if (!(hex ? absl::SimpleHexAtoi(entity.substr(2), &code)
                  : absl::SimpleAtoi(entity.substr(1), &code))) {
          return Error(absl::StrCat("bad character reference &", entity, ";"));
        }
        out += '?';
      } else {
        return Error(absl::StrCat("unknown entity &", entity, ";"));
      }
      i = semi;
    }
    return out;
  }

  absl::StatusOr<XmlElement> Element() {
    ++pos_;  // '<'
    XmlElement element;
    element.name = Name();
    if (element.name.empty()) return Error("empty element name");
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size()) return Error("unterminated start tag");
      if (Starts("/>")) {
        pos_ += 2;
        return element;
      }
      if (text_[pos_] == '>') {
        ++pos_;
        break;
      }
      const std::string attribute = Name();
      if (attribute.empty()) return Error("bad attribute name");
      SkipSpace();
      if (!Starts("=")) return Error("attribute without '='");
      ++pos_;
      SkipSpace();
      if (pos_ >= text_.size() || (text_[pos_] != '"' && text_[pos_] != '\'')) {
        return Error("unquoted attribute value");
      }
      const char quote = text_[pos_++];
      const size_t end = text_.find(quote, pos_);
      if (end == absl::string_view::npos) return Error("unterminated value");
      absl::StatusOr<std::string> value =
          Decode(text_.substr(pos_, end - pos_));
      if (!value.ok()) return value.status();
      pos_ = end + 1;
      if (!element.attributes.emplace(attribute, *value).second) {
        return Error(absl::StrCat("duplicate attribute ", attribute));
      }
    }
    // Content.
    while (true) {
      const size_t lt = text_.find('<', pos_);
      if (lt == absl::string_view::npos) {
        return Error(absl::StrCat("unclosed <", element.name, ">"));
      }
      absl::StatusOr<std::string> text = Decode(text_.substr(pos_, lt - pos_));
      if (!text.ok()) return text.status();
      element.text += *text;
      pos_ = lt;
      if (Starts("<!--")) {
        SkipMisc();
        continue;
      }
      if (Starts("</")) {
        pos_ += 2;
        const std::string name = Name();
        SkipSpace();
        if (name != element.name || !Starts(">")) {
          return Error(
              absl::StrCat("</", name, "> closes <", element.name, ">"));
        }
        ++pos_;
        return element;
      }
      absl::StatusOr<XmlElement> child = Element();
      if (!child.ok()) return child;
      element.children.push_back(*std::move(child));
    }
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

void Collect(const XmlElement& e, absl::string_view attribute,
             absl::string_view value, std::vector<const XmlElement*>* out) {
  auto it = e.attributes.find(std::string{attribute});
  if (it != e.attributes.end() && it->second == value) out->push_back(&e);
  for (const XmlElement& child : e.children) {
    Collect(child, attribute, value, out);
  }
}

}  // namespace

absl::StatusOr<XmlElement> ParseXml(absl::string_view document) {
  return Parser(document).Document();
}

int CountElements(const XmlElement& root, absl::string_view name) {
  int count = root.name == name ? 1 : 0;
  for (const XmlElement& child : root.children) {
    count += CountElements(child, name);
  }
  return count;
}

std::vector<const XmlElement*> FindByAttribute(const XmlElement& root,
                                               absl::string_view attribute,
                                               absl::string_view value) {
  std::vector<const XmlElement*> out;
  Collect(root, attribute, value, &out);
  return out;
}

}  // namespace trilemma::testing
