// EventStream's writer-token protocol with a fake reactor: one write in
// flight, Finish only after the queue drains, backpressure and cancellation.
#include "server/event_stream.h"

#include <vector>

#include "gtest/gtest.h"

namespace trilemma {
namespace {

class FakeWriter : public EventStream::Writer {
 public:
  void StartEventWrite(v1::SessionEvent event, bool more_queued) override {
    ++in_flight;
    written.push_back(std::move(event));
    held_back.push_back(more_queued);
  }
  void FinishStream(const absl::Status& status) override {
    finished.push_back(status);
  }
  int in_flight = 0;
  std::vector<v1::SessionEvent> written;
  std::vector<bool> held_back;  // more_queued of each write
  std::vector<absl::Status> finished;
};

v1::SessionEvent Token(int32_t token) {
  v1::SessionEvent e;
  e.mutable_token()->set_token(token);
  return e;
}

TEST(EventStreamTest, OneWriteInFlightThenFinishAfterTheLastEvent) {
  int wakes = 0;
  EventStream stream(2, [&] { ++wakes; });
  FakeWriter writer;
  stream.Attach(&writer);
  EXPECT_TRUE(stream.Ready());
  stream.Push(Token(1));  // written at once
  stream.Push(Token(2));
  stream.Push(Token(3));
  EXPECT_EQ(writer.written.size(), 1u);
  EXPECT_FALSE(stream.Ready());  // two queued behind the write
  stream.Finish(absl::OkStatus());
  EXPECT_TRUE(writer.finished.empty());

  stream.OnWriteDone(true);  // pops 2 from a full queue: room
  EXPECT_EQ(writer.written.size(), 2u);
  EXPECT_EQ(wakes, 1);
  EXPECT_TRUE(stream.Ready());
  stream.OnWriteDone(true);
  stream.OnWriteDone(true);
  ASSERT_EQ(writer.written.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(writer.written[i].token().token(), i + 1);
  }
  // Token 1 went out alone; 2 had 3 queued behind it, so the transport may
  // hold it back; 3 was the last queued and must go out.
  EXPECT_EQ(writer.held_back, (std::vector<bool>{false, true, false}));
  ASSERT_EQ(writer.finished.size(), 1u);
  EXPECT_TRUE(writer.finished[0].ok());
  stream.Push(Token(4));  // after Finish: dropped
  stream.Finish(absl::InternalError("ignored"));
  EXPECT_EQ(writer.written.size(), 3u);
  EXPECT_EQ(writer.finished.size(), 1u);
}

TEST(EventStreamTest, EventsBeforeAttachAreKept) {
  EventStream stream(4, nullptr);
  stream.Push(Token(7));
  stream.Finish(absl::InvalidArgumentError("x"));
  FakeWriter writer;
  stream.Attach(&writer);
  ASSERT_EQ(writer.written.size(), 1u);
  stream.OnWriteDone(true);
  ASSERT_EQ(writer.finished.size(), 1u);
  EXPECT_EQ(writer.finished[0].code(), absl::StatusCode::kInvalidArgument);
}

TEST(EventStreamTest, CancelDropsQueuedEventsAndFinishesCancelled) {
  int wakes = 0;
  EventStream stream(8, [&] { ++wakes; });
  FakeWriter writer;
  stream.Attach(&writer);
  stream.Push(Token(1));
  stream.Push(Token(2));
  stream.Cancel();
  EXPECT_TRUE(stream.Cancelled());
  EXPECT_FALSE(stream.Ready());
  EXPECT_EQ(wakes, 1);  // the scheduler is told at once
  stream.Finish(absl::OkStatus());
  stream.OnWriteDone(false);
  EXPECT_EQ(writer.written.size(), 1u);
  ASSERT_EQ(writer.finished.size(), 1u);
  EXPECT_EQ(writer.finished[0].code(), absl::StatusCode::kCancelled);
}

TEST(EventStreamTest, FailedWriteMarksTheStreamCancelled) {
  EventStream stream(8, nullptr);
  FakeWriter writer;
  stream.Attach(&writer);
  stream.Push(Token(1));
  stream.Push(Token(2));
  stream.OnWriteDone(false);
  EXPECT_TRUE(stream.Cancelled());
  EXPECT_EQ(writer.written.size(), 1u);
  stream.Finish(absl::OkStatus());
  ASSERT_EQ(writer.finished.size(), 1u);
  EXPECT_EQ(writer.finished[0].code(), absl::StatusCode::kCancelled);
}

TEST(EventStreamTest, DetachedStreamDropsEverything) {
  EventStream stream(8, nullptr);
  FakeWriter writer;
  stream.Attach(&writer);
  stream.Detach();
  stream.Push(Token(1));
  stream.Finish(absl::OkStatus());
  EXPECT_TRUE(writer.written.empty());
  EXPECT_TRUE(writer.finished.empty());
}

}  // namespace
}  // namespace trilemma
