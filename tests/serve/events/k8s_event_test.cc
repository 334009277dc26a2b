#include <gtest/gtest.h>

#include "serve/events/k8s_event.h"
#include "serve/events/sse_hub.h"

namespace kobs::serve::events {
namespace {

StoredEvent sample() {
  StoredEvent e;
  e.cursor = {1700000000000000001, 1700000000000000000, 42};
  e.composition_id = "comp-1";
  e.obj_apiversion = "apps/v1";
  e.obj_kind = "Deployment";
  e.obj_name = "web";
  e.obj_namespace = "demo";
  e.obj_uid = "u-1";
  e.reason = "ScalingReplicaSet";
  e.message = "Scaled up <b>&</b> \"x\"\n";
  e.type = "Normal";
  e.source_component = "deployment-controller";
  e.event_time = "2026-03-15T10:00:00Z";
  return e;
}

TEST(SseK8sEvent, ExactKeysOrderAndGoEscaping) {
  EXPECT_EQ(sseK8sEventJson(sample()),
            R"({"metadata":{"name":"web","namespace":"demo","uid":"u-1","creationTimestamp":"2026-03-15T10:00:00Z"},)"
            R"("involvedObject":{"apiVersion":"apps/v1","kind":"Deployment","name":"web","namespace":"demo","uid":"u-1"},)"
            R"("reason":"ScalingReplicaSet","message":"Scaled up \u003cb\u003e\u0026\u003c/b\u003e \"x\"\n","type":"Normal",)"
            R"("firstTimestamp":"2026-03-15T10:00:00Z","lastTimestamp":"2026-03-15T10:00:00Z",)"
            R"("eventTime":"2026-03-15T10:00:00Z","source":{"component":"deployment-controller"}})");
}

TEST(SseK8sEvent, EmptyFieldsStayAsEmptyStrings) {
  StoredEvent e;
  EXPECT_EQ(sseK8sEventJson(e),
            R"({"metadata":{"name":"","namespace":"","uid":"","creationTimestamp":""},)"
            R"("involvedObject":{"apiVersion":"","kind":"","name":"","namespace":"","uid":""},)"
            R"("reason":"","message":"","type":"","firstTimestamp":"","lastTimestamp":"","eventTime":"",)"
            R"("source":{"component":""}})");
}

TEST(Cursor, RoundTripsAndRejectsGarbage) {
  EventCursor c{123, 456, 18446744073709551615ull};
  EXPECT_EQ(c.str(), "123-456-18446744073709551615");
  EXPECT_EQ(EventCursor::parse(c.str()), c);
  EXPECT_FALSE(EventCursor::parse("88888888"));
  EXPECT_FALSE(EventCursor::parse("1-2-x"));
  auto p = ResumePoint::parse("1-2-3:0");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->frames_seen, 1);
  EXPECT_EQ(ResumePoint::parse("1-2-3:1")->frames_seen, 2);
  EXPECT_EQ(ResumePoint::parse("1-2-3")->frames_seen, 2);
  EXPECT_FALSE(ResumePoint::parse("1-2-3:7"));
  EXPECT_LT((EventCursor{1, 9, 9}), (EventCursor{2, 0, 0}));
}

TEST(Frames, KrateoThenCompositionWithIdsAndTopicFilter) {
  auto e = sample();
  const std::string json = sseK8sEventJson(e);
  EXPECT_EQ(eventFrames(e, json, {}),
            "event: krateo\ndata: " + json + "\nid: " + e.cursor.str() + ":0\n\n" + "event: comp-1\ndata: " + json +
                "\nid: " + e.cursor.str() + ":1\n\n");
  EXPECT_EQ(eventFrames(e, json, {"comp-1"}), "event: comp-1\ndata: " + json + "\nid: " + e.cursor.str() + ":1\n\n");
  EXPECT_EQ(eventFrames(e, json, {"other"}), "");
  e.composition_id.clear();
  EXPECT_EQ(eventFrames(e, json, {}), "event: krateo\ndata: " + json + "\nid: " + e.cursor.str() + ":0\n\n");
}

}  // namespace
}  // namespace kobs::serve::events
