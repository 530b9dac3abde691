#include "client/load/text_workload.h"

#include <cmath>
#include <random>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/load/workload.h"

namespace trilemma::client {
namespace {

// The filler of the passkey literature: repeated, irrelevant, easy to
// tokenize everywhere.
constexpr absl::string_view kFiller =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. "
    "There and back again. ";
constexpr int64_t kFillerWords = 20;

constexpr const char* kFirstNames[] = {
    "Ada",     "Alan",     "Barbara", "Claude", "Donald",    "Edsger",
    "Frances", "Grace",    "Hedy",    "Ivan",   "Joan",      "Ken",
    "Leslie",  "Margaret", "Niklaus", "Ole",    "Peter",     "Radia",
    "Shafi",   "Tony",     "Ursula",  "Vint",   "Whitfield", "Yann"};
constexpr const char* kLastNames[] = {
    "Abbott", "Becker", "Carter", "Dalton", "Ellison", "Fischer", "Garcia",
    "Hughes", "Ibarra", "Jensen", "Keller", "Larsen",  "Moreno",  "Novak",
    "Olsen",  "Porter", "Quinn",  "Rossi",  "Sato",    "Torres",  "Underwood",
    "Varga",  "Weber",  "Young",  "Zhang"};

uint64_t Below(std::mt19937_64& rng, uint64_t n) {
  return static_cast<uint64_t>(Uniform01(rng) * static_cast<double>(n)) % n;
}

std::string Digits(std::mt19937_64& rng, int count) {
  std::string out;
  out += static_cast<char>('1' + Below(rng, 9));
  for (int i = 1; i < count; ++i)
    out += static_cast<char>('0' + Below(rng, 10));
  return out;
}

}  // namespace

TextPlan MakePasskeyPlan(int64_t filler_words, double depth, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TextPlan plan;
  plan.expected = Digits(rng, 5);
  const int64_t repeats = std::max<int64_t>(1, filler_words / kFillerWords);
  const int64_t at = std::llround(depth * static_cast<double>(repeats));
  plan.prompt =
      "There is an important info hidden inside a lot of irrelevant text. "
      "Find it and memorize it. I will quiz you about the important "
      "information there.\n";
  for (int64_t i = 0; i <= repeats; ++i) {
    if (i == at) {
      absl::StrAppend(&plan.prompt, "The pass key is ", plan.expected,
                      ". Remember it. ", plan.expected, " is the pass key. ");
    }
    if (i < repeats) absl::StrAppend(&plan.prompt, kFiller);
  }
  absl::StrAppend(&plan.prompt, "\nWhat is the pass key? The pass key is");
  plan.max_tokens = 12;
  return plan;
}

TextPlan MakePhonebookPlan(int64_t entries, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TextPlan plan;
  std::set<std::string> used;
  std::string asked;
  const uint64_t query = Below(rng, static_cast<uint64_t>(entries));
  plan.prompt = "Here is a phone book.\n";
  for (int64_t i = 0; i < entries; ++i) {
    std::string name;
    // Distinct names; a numeric suffix once the combinations run out.
    for (int attempt = 0;; ++attempt) {
      name = absl::StrCat(kFirstNames[Below(rng, std::size(kFirstNames))], " ",
                          kLastNames[Below(rng, std::size(kLastNames))]);
      if (attempt > 8) absl::StrAppend(&name, " ", i);
      if (used.insert(name).second) break;
    }
    const std::string number = Digits(rng, 10);
    absl::StrAppend(&plan.prompt, name, ": ", number.substr(0, 3), "-",
                    number.substr(3, 3), "-", number.substr(6), "\n");
    if (static_cast<uint64_t>(i) == query) {
      asked = name;
      plan.expected = number;
    }
  }
  absl::StrAppend(&plan.prompt, "\nWhat is the phone number of ", asked,
                  "? Answer: ");
  plan.max_tokens = 16;
  return plan;
}

bool ScoreTextAnswer(absl::string_view answer, absl::string_view expected) {
  size_t i = 0;
  while (i < answer.size() && !absl::ascii_isdigit(answer[i])) ++i;
  std::string digits;
  for (; i < answer.size(); ++i) {
    const char c = answer[i];
    if (absl::ascii_isdigit(c)) {
      digits += c;
    } else if (c == '-' && i + 1 < answer.size() &&
               absl::ascii_isdigit(answer[i + 1])) {
      continue;
    } else {
      break;
    }
  }
  return !digits.empty() && digits == expected;
}

}  // namespace trilemma::client
