#include "app/component_options.h"

namespace kobs::app {

http::ServerOptions listenerOptions(const KobsConfig& c, const std::string& listen, const std::string& name,
                                    metrics::Registry* registry) {
  http::ServerOptions o;
  o.listen = listen;
  if (!name.empty()) o.name = name;
  o.stream_limits.max_queued_frames = c.serve.sse_queue_frames;
  o.stream_limits.max_queued_bytes = c.serve.sse_queue_bytes;
  o.metrics = registry;
  return o;
}

http::ServerOptions clickhouseListenerOptions(const KobsConfig& c) {
  http::ServerOptions o;
  o.listen = c.serve.clickhouse_listen;
  o.name = "clickhouse";
  return o;
}

serve::events::EventsApiOptions eventsApiOptions(const KobsConfig& c) {
  serve::events::EventsApiOptions o;
  o.allow_origin = c.serve.allow_origin;
  o.max_limit = c.serve.events_max_limit;
  o.recent.rows = c.serve.recent_rows;
  o.recent.max_bytes = c.serve.recent_max_bytes;
  o.recent.idle = c.serve.recent_idle;
  o.sse.keepalive = c.serve.sse_keepalive;
  o.sse.retry = c.serve.sse_retry;
  o.alerts.keepalive = c.serve.sse_keepalive;
  o.alerts.retry = c.serve.sse_retry;
  return o;
}

serve::events::FeedOptions feedOptions(const KobsConfig& c) {
  return {.poll_interval = c.serve.sse_poll_interval, .lookback = c.serve.sse_lookback};
}

serve::chcompat::EndpointOptions clickhouseEndpointOptions(const KobsConfig& c) {
  return {.database = c.schema.database, .events_table = c.schema.events_table,
          .users_file = c.serve.clickhouse_users_file};
}

serve::presenter::PresenterApiOptions presenterApiOptions(const KobsConfig& c) {
  serve::presenter::PresenterApiOptions o;
  o.default_limit = c.serve.presenter_default_limit;
  o.max_limit = c.serve.presenter_max_limit;
  o.sse.keepalive = c.serve.presenter_keepalive;
  o.sse.retry = c.serve.sse_retry;
  return o;
}

serve::presenter::HeadOptions presenterHeadOptions(const KobsConfig& c) {
  return {.capacity = c.serve.presenter_head_events};
}

std::string listenerUrl(const std::string& listen, uint16_t port) {
  auto host = http::parseListenAddress(listen).host;
  return "http://" + (host.empty() ? std::string("0.0.0.0") : host) + ":" + std::to_string(port);
}

}  // namespace kobs::app
