// EventText: fills in the text of a stream's events when its engine has a
// tokenizer (docs/tokenizers.md) — each TokenEvent's `text` piece, and the
// Summary's `text_tail` — so pieces are always whole UTF-8 code points.
//
// Example (in a reactor, just before writing an event):
//   EventText text(engine.tokenizer());   // null tokenizer: does nothing
//   text.Annotate(&event);
//
// Not thread-safe: one per stream, called in event order (the stream's
// writes are serialized).
#ifndef TRILEMMA_SERVER_TEXT_EVENTS_H_
#define TRILEMMA_SERVER_TEXT_EVENTS_H_

#include <optional>

#include "engines/engine.h"
#include "trilemma/v1/trilemma.pb.h"

namespace trilemma {

class EventText {
 public:
  // `tokenizer` may be null (token ids only); else it must outlive this.
  explicit EventText(const Tokenizer* tokenizer);

  // Sets event->token().text, or event->summary().text_tail (flushing what
  // the turn's last tokens left unfinished). A token id the tokenizer does
  // not know (the model's vocab can be larger) adds no text.
  void Annotate(v1::SessionEvent* event);

 private:
  std::optional<StreamingDetokenizer> detokenizer_;
};

}  // namespace trilemma

#endif  // TRILEMMA_SERVER_TEXT_EVENTS_H_
