#include <gtest/gtest.h>

#include <vector>

#include "k8s/watch_decoder.h"

namespace kobs::k8s {
namespace {

struct Seen {
  WatchEventType type;
  std::string object;
  std::string rv;
  int code = 0;
  std::string reason;
};

struct Collector {
  std::vector<Seen> seen;
  WatchDecoder::Handler handler() {
    return [this](const WatchEvent& e) {
      seen.push_back({e.type, std::string(e.object), std::string(e.resource_version), e.error_code,
                      std::string(e.error_reason)});
    };
  }
};

const std::string kAdded =
    R"({"type":"ADDED","object":{"kind":"Event","apiVersion":"v1","metadata":{"name":"a","namespace":"default","resourceVersion":"11"},"reason":"Pulled","message":"line\nbreak \"quoted\""}})";
const std::string kModified = R"({"type":"MODIFIED","object":{"metadata":{"resourceVersion":"12","name":"a"},"count":2}})";

TEST(WatchDecoder, EventsSplitAtEveryByteBoundary) {
  std::string stream = kAdded + "\n" + kModified + "\r\n\n";
  for (size_t step = 1; step <= stream.size(); ++step) {
    Collector c;
    WatchDecoder d(c.handler());
    for (size_t i = 0; i < stream.size(); i += step) d.feed(std::string_view(stream).substr(i, step));
    d.finish();
    ASSERT_EQ(c.seen.size(), 2u) << "step " << step;
    EXPECT_EQ(c.seen[0].type, WatchEventType::kAdded);
    EXPECT_EQ(c.seen[0].rv, "11");
    EXPECT_EQ(c.seen[0].object, kAdded.substr(25, kAdded.size() - 26));
    EXPECT_EQ(c.seen[1].type, WatchEventType::kModified);
    EXPECT_EQ(c.seen[1].rv, "12");
    EXPECT_EQ(d.badLines(), 0u);
  }
}

TEST(WatchDecoder, BadLinesAreCountedAndSkipped) {
  Collector c;
  WatchDecoder d(c.handler());
  d.feed(kAdded.substr(0, 60) + "\n");                       // truncated mid-object
  d.feed(kAdded.substr(0, kAdded.size() - 1) + "\n");        // missing the final brace only
  d.feed("this is not json\n");
  d.feed(R"({"type":"SOMETHING","object":{}})" "\n");        // unknown type
  d.feed(R"({"type":"ADDED"})" "\n");                        // no object
  d.feed(R"({"type":"ADDED","object":"str"})" "\n");         // object not an object
  d.feed(kModified + "\n");
  d.feed(kAdded.substr(0, 30));                              // stream ends inside a line
  d.finish();
  ASSERT_EQ(c.seen.size(), 1u);
  EXPECT_EQ(c.seen[0].rv, "12");
  EXPECT_EQ(d.badLines(), 7u);
  EXPECT_EQ(d.events(), 1u);
}

TEST(WatchDecoder, UnknownFieldsAreKeptInTheRawObject) {
  Collector c;
  WatchDecoder d(c.handler());
  std::string line =
      R"({"type":"ADDED","extra":{"x":[1,2]},"object":{"futureField":{"a":[true,null,1.5e3]},"metadata":{"annotations":{"k":"v"},"resourceVersion":"7"}}})";
  d.feed(line + "\n");
  ASSERT_EQ(c.seen.size(), 1u);
  EXPECT_EQ(c.seen[0].rv, "7");
  EXPECT_EQ(c.seen[0].object, R"({"futureField":{"a":[true,null,1.5e3]},"metadata":{"annotations":{"k":"v"},"resourceVersion":"7"}})");
}

TEST(WatchDecoder, ErrorAndBookmarkEvents) {
  Collector c;
  WatchDecoder d(c.handler());
  d.feed(R"J({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 5 (9)","reason":"Expired","code":410}})J"
         "\n"
         R"({"type":"BOOKMARK","object":{"kind":"Event","apiVersion":"v1","metadata":{"resourceVersion":"99"}}})"
         "\n");
  ASSERT_EQ(c.seen.size(), 2u);
  EXPECT_EQ(c.seen[0].type, WatchEventType::kError);
  EXPECT_EQ(c.seen[0].code, 410);
  EXPECT_EQ(c.seen[0].reason, "Expired");
  EXPECT_EQ(c.seen[1].type, WatchEventType::kBookmark);
  EXPECT_EQ(c.seen[1].rv, "99");
}

TEST(WatchDecoder, LinesAboveTheBoundAreDroppedWithoutBuffering) {
  Collector c;
  WatchDecoder d(c.handler(), 1024);
  std::string big = R"({"type":"ADDED","object":{"message":")" + std::string(5000, 'x') + R"(","metadata":{"resourceVersion":"3"}}})";
  for (size_t i = 0; i < big.size(); i += 100) d.feed(std::string_view(big).substr(i, 100));
  d.feed("\n" + kModified + "\n");
  // A big line arriving in one chunk together with its newline.
  d.feed(big + "\n" + kModified + "\n");
  EXPECT_EQ(d.oversizeLines(), 2u);
  ASSERT_EQ(c.seen.size(), 2u);
  EXPECT_EQ(c.seen[0].rv, "12");
  EXPECT_EQ(d.badLines(), 0u);
}

}  // namespace
}  // namespace kobs::k8s
