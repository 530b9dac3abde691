#include "server/text_events.h"

#include <string>

namespace trilemma {

EventText::EventText(const Tokenizer* tokenizer) {
  if (tokenizer != nullptr) detokenizer_.emplace(*tokenizer);
}

void EventText::Annotate(v1::SessionEvent* event) {
  if (!detokenizer_.has_value()) return;
  if (event->has_token()) {
    absl::StatusOr<std::string> piece =
        detokenizer_->Add(event->token().token());
    if (piece.ok()) event->mutable_token()->set_text(*std::move(piece));
  } else if (event->has_summary()) {
    event->mutable_summary()->set_text_tail(detokenizer_->Flush());
  }
}

}  // namespace trilemma
