// The configuration, read into each part's options: one function per part,
// so a reader finds which keys a part takes in one place.
#pragma once

#include <string>

#include "app/config.h"
#include "http/http_server.h"
#include "serve/chcompat/clickhouse_endpoint.h"
#include "serve/events/event_feed.h"
#include "serve/events/events_api.h"
#include "serve/presenter/presenter_api.h"
#include "serve/presenter/presenter_head.h"

namespace kobs::app {

// A streaming listener's options (the main one, the presenter's): `name`
// labels its metrics and logs ("" keeps the default, "http").
http::ServerOptions listenerOptions(const KobsConfig& c, const std::string& listen, const std::string& name,
                                    metrics::Registry* registry);
// The ClickHouse-compatible endpoint's listener (serve.clickhouse_listen).
http::ServerOptions clickhouseListenerOptions(const KobsConfig& c);
serve::events::EventsApiOptions eventsApiOptions(const KobsConfig& c);
serve::events::FeedOptions feedOptions(const KobsConfig& c);
serve::chcompat::EndpointOptions clickhouseEndpointOptions(const KobsConfig& c);
serve::presenter::PresenterApiOptions presenterApiOptions(const KobsConfig& c);
serve::presenter::HeadOptions presenterHeadOptions(const KobsConfig& c);

// "http://host:port" as the startup lines print it (0.0.0.0 for all interfaces).
std::string listenerUrl(const std::string& listen, uint16_t port);

}  // namespace kobs::app
