// Rules as code: shape errors name the file and the rule; expressions are
// checked against the table's columns; thresholds follow HyperDX's types.
#include "alert/rules.h"

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "alert/expression.h"
#include "alert/message.h"
#include "common/error.h"
#include "support/temp_dir.h"

namespace kobs::alert {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kLogColumns = {"Timestamp", "TimestampTime", "SeverityText", "ServiceName", "Body",
                                              "ResourceAttributes", "LogAttributes"};

ColumnLookup lookup() {
  return [](const std::string& t) -> std::optional<std::vector<std::string>> {
    if (t == "otel_logs") return kLogColumns;
    if (t == "otel_traces") return std::vector<std::string>{"Timestamp", "Duration", "SpanName", "ResourceAttributes", "SpanAttributes"};
    return std::nullopt;
  };
}

std::string errorOf(const std::string& yaml) {
  try {
    auto set = parseRules(yaml, "r.yaml");
    bindRules(set, SourceTables{}, lookup());
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadConfig);
    return e.what();
  }
  return "";
}

const char* kChannels = "channels:\n  c: {type: slack, url_env: X}\n";

TEST(AlertRules, ShippedDefaultRuleLoads) {
  auto set = loadRules(kobs::testing::sourceDir() / "deploy/alert-rules/default.yaml");
  bindRules(set, SourceTables{}, lookup());
  ASSERT_EQ(set.rules.size(), 1u);
  const auto& r = set.rules[0];
  EXPECT_EQ(r.source, "events");
  EXPECT_EQ(r.interval, std::chrono::minutes(5));
  EXPECT_EQ(r.threshold, 2);
  EXPECT_EQ(r.threshold_type, ThresholdType::kAboveExclusive);
  EXPECT_EQ(r.group_by, (std::vector<std::string>{"k8s.namespace.name", "k8s.pod.name"}));
  EXPECT_EQ(set.channels.at(r.channels.at(0)).type, ChannelType::kSlack);
}

TEST(AlertRules, ErrorsNameTheRuleAndWhat) {
  EXPECT_THAT(errorOf(std::string(kChannels) + "rules:\n  - {name: a, source: logs, threshold: 1, interval: 2m}\n"),
              HasSubstr("rule \"a\": interval `2m` is not one of"));
  EXPECT_THAT(errorOf(std::string(kChannels) + "rules:\n  - {name: a, source: logs, threshold: 1, thresholdType: over}\n"),
              HasSubstr("thresholdType `over`"));
  EXPECT_THAT(errorOf(std::string(kChannels) + "rules:\n  - {name: a, source: logs, threshold: 1, thresholdType: between}\n"),
              HasSubstr("needs thresholdMax"));
  EXPECT_THAT(errorOf(std::string(kChannels) + "rules:\n  - {name: a, source: logs, threshold: 1, channels: [nope]}\n"),
              HasSubstr("channel \"nope\" is not defined"));
  EXPECT_THAT(errorOf(std::string(kChannels) + "rules:\n  - {name: a, source: nowhere, threshold: 1}\n"),
              HasSubstr("table `nowhere` does not exist"));
  EXPECT_THAT(errorOf(std::string(kChannels) + "rules:\n  - {name: a, source: logs, threshold: 1, where: \"Sevrity = 'x'\"}\n"),
              HasSubstr("rule \"a\" (r.yaml:4): where `Sevrity = 'x'` names unknown column `Sevrity`"));
  EXPECT_THAT(errorOf(std::string(kChannels) + "rules:\n  - {name: a, source: traces, threshold: 1, value: \"quantile(0.99)(Duratio)\"}\n"),
              HasSubstr("unknown column `Duratio`"));
  EXPECT_THAT(errorOf(std::string(kChannels) + "rules:\n  - {name: a, source: logs, threshold: 1, groupBy: [\"lower(Bdy)\"]}\n"),
              HasSubstr("unknown column `Bdy`"));
  EXPECT_THAT(errorOf("channels:\n  c: {type: slack, url: 'http://x'}\n"), HasSubstr("URLs are secrets"));
  EXPECT_THAT(errorOf(std::string(kChannels) + "rules:\n  - {name: a, source: logs, threshold: 1}\n  - {name: a, source: logs, threshold: 1}\n"),
              HasSubstr("defined twice"));
  EXPECT_THAT(errorOf(std::string(kChannels) + "rules:\n  - {name: a, source: logs, threshold: 1, colour: red}\n"),
              HasSubstr("unknown key `colour`"));
}

TEST(AlertRules, ExpressionsAreOneExpressionOverKnownColumns) {
  EXPECT_FALSE(checkExpression("SeverityText = 'ERROR' AND ResourceAttributes['k8s.pod.name'] LIKE 'web-%'", kLogColumns).error);
  EXPECT_FALSE(checkExpression("arrayExists(x -> x > 1, [1, 2]) AND Timestamp > now() - INTERVAL 5 MINUTE", kLogColumns).error);
  EXPECT_FALSE(checkExpression("CAST(SeverityText AS String) = 'x' AND `Body` != ''", kLogColumns).error);
  EXPECT_THAT(*checkExpression("1; DROP TABLE otel_logs", kLogColumns).error, HasSubstr("`;`"));
  EXPECT_THAT(*checkExpression("Body IN (SELECT name FROM system.tables)", kLogColumns).error, HasSubstr("`SELECT`"));
  EXPECT_THAT(*checkExpression("Body = file('/etc/passwd')", kLogColumns).error, HasSubstr("`file`"));
  EXPECT_THAT(*checkExpression("(Body = 'x'", kLogColumns).error, HasSubstr("unbalanced"));
  EXPECT_THAT(*checkExpression("Bodyy = 'x'", kLogColumns).error, HasSubstr("`Bodyy`"));
}

TEST(AlertRules, ThresholdTypes) {
  struct Case { ThresholdType t; double v; bool breach; };
  const Case cases[] = {
      {ThresholdType::kAbove, 2, true},          {ThresholdType::kAbove, 1.9, false},
      {ThresholdType::kAboveExclusive, 2, false}, {ThresholdType::kAboveExclusive, 3, true},
      {ThresholdType::kBelow, 2, false},         {ThresholdType::kBelow, 1, true},
      {ThresholdType::kBelowOrEqual, 2, true},   {ThresholdType::kBelowOrEqual, 3, false},
      {ThresholdType::kEqual, 2, true},          {ThresholdType::kEqual, 3, false},
      {ThresholdType::kNotEqual, 2, false},      {ThresholdType::kNotEqual, 3, true},
      {ThresholdType::kBetween, 2, true},        {ThresholdType::kBetween, 4, true},
      {ThresholdType::kBetween, 5, false},       {ThresholdType::kNotBetween, 3, false},
      {ThresholdType::kNotBetween, 1, true},     {ThresholdType::kNotBetween, 4.5, true},
  };
  for (const auto& c : cases)
    EXPECT_EQ(breaches(c.t, c.v, 2, 4), c.breach) << thresholdTypeName(c.t) << " " << c.v;
}

TEST(AlertRules, AttributeKeysInGroupByReadResourceThenRecordAttributes) {
  auto set = parseRules(std::string(kChannels) + "rules:\n  - {name: a, source: logs, threshold: 1, groupBy: [k8s.pod.name, ServiceName]}\n", "r");
  bindRules(set, SourceTables{}, lookup());
  const auto& r = set.rules[0];
  EXPECT_EQ(r.group_exprs[0],
            "if(mapContains(ResourceAttributes, 'k8s.pod.name'), ResourceAttributes['k8s.pod.name'], LogAttributes['k8s.pod.name'])");
  EXPECT_EQ(r.group_exprs[1], "`ServiceName`");
  EXPECT_EQ(r.coarse_time_column, "TimestampTime");
}

TEST(AlertRules, UrlComesFromFileOrEnvironment) {
  kobs::testing::TempDir dir;
  std::ofstream(dir.path() / "u") << "https://hooks.example/services/T/B/secret\n";
  Channel c;
  c.name = "x";
  c.url_file = (dir.path() / "u").string();
  c.query_params = {{"a b", "c"}};
  EXPECT_EQ(c.resolveUrl(), "https://hooks.example/services/T/B/secret?a%20b=c");
  Channel e;
  e.name = "y";
  e.url_env = "KOBS_TEST_ALERT_URL_UNSET";
  try {
    e.resolveUrl();
    FAIL();
  } catch (const Exception& ex) {
    EXPECT_THAT(std::string(ex.what()), HasSubstr("KOBS_TEST_ALERT_URL_UNSET is not set"));
  }
}

TEST(AlertRules, TemplatesRenderWithoutEscaping) {
  EXPECT_EQ(renderTemplate("{\"t\": \"{{title}}\", \"n\": {{ value }}, \"x\": \"{{{title}}}\"}", {{"title", "a\\\"b"}, {"value", "3"}}),
            "{\"t\": \"a\\\"b\", \"n\": 3, \"x\": \"a\\\"b\"}");
  EXPECT_EQ(formatNumber(3), "3");
  EXPECT_EQ(formatNumber(0.25), "0.25");
}

}  // namespace
}  // namespace kobs::alert
