// A small XML well-formedness parser for tests: enough to check that the
// sweep's SVG files are valid XML and to count their elements.
//
// Example:
//   absl::StatusOr<XmlElement> svg = ParseXml(text);
//   ASSERT_TRUE(svg.ok()) << svg.status();
//   EXPECT_EQ(svg->name, "svg");
//   EXPECT_GE(CountElements(*svg, "polyline"), 3);
//
// Accepts an optional <?xml ...?> prolog, comments, elements, attributes in
// single or double quotes, character data and the five predefined entities
// plus numeric character references. Rejects mismatched or unclosed tags,
// duplicate attributes, bare '<' or '&', and text outside the root.
#ifndef TRILEMMA_TESTS_CLIENT_LOAD_XML_CHECK_H_
#define TRILEMMA_TESTS_CLIENT_LOAD_XML_CHECK_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trilemma::testing {

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::vector<XmlElement> children;
  // Character data directly inside this element, entities decoded.
  std::string text;
};

absl::StatusOr<XmlElement> ParseXml(absl::string_view document);

// Elements named `name` in the tree rooted at `root` (root included).
int CountElements(const XmlElement& root, absl::string_view name);

// Every element of the tree whose attribute `attribute` equals `value`.
std::vector<const XmlElement*> FindByAttribute(const XmlElement& root,
                                               absl::string_view attribute,
                                               absl::string_view value);

}  // namespace trilemma::testing

#endif  // TRILEMMA_TESTS_CLIENT_LOAD_XML_CHECK_H_
