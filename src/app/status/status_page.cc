#include "app/status/status_page.h"

#include <fmt/format.h>

namespace kobs::app::status {
namespace {

constexpr const char* kStyle =
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.05em;margin:1.2em 0 .3em}"
    "table{border-collapse:collapse;min-width:24em}td,th{padding:.15em .7em;text-align:right;"
    "border-bottom:1px solid #ddd}td:first-child,th:first-child{text-align:left}"
    "th{color:#555;font-weight:600}.meta{color:#555}.note{color:#777;font-style:italic}";

std::string uptime(std::chrono::steady_clock::duration d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
}

}  // namespace

std::string htmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

StatusPage::StatusPage(const metrics::Registry& registry, PageInfo info)
    : registry_(registry), info_(std::move(info)) {}

void StatusPage::addRoutes(http::Router& router) {
  router.get("/", [this](const http::Request&) {
    http::Response r;
    r.status = 200;
    r.headers.set("Content-Type", "text/html; charset=utf-8");
    r.headers.set("Cache-Control", "no-store");
    r.body = render();
    return r;
  });
}

std::string StatusPage::render() {
  const auto now_at = std::chrono::steady_clock::now();
  Snapshot now = snapshotOf(registry_.renderPrometheus(), now_at);
  std::optional<Snapshot> before;
  {
    std::lock_guard lock(mutex_);
    before = previous_;
    if (!previous_ || now_at - previous_->at >= std::chrono::seconds(1)) previous_ = now;
  }
  // A snapshot from this very instant gives no rate: use it only when older.
  const Snapshot* base = before && now_at - before->at >= std::chrono::milliseconds(200) ? &*before : nullptr;
  View view = summarize(now, base);

  std::string h = fmt::format(
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"{}\"><link rel=\"icon\" href=\"data:,\"><title>kobs status</title><style>{}</style></head><body>",
      info_.refresh_seconds, kStyle);
  h += fmt::format("<h1>kobs</h1><p class=\"meta\">version {} &middot; role <b>{}</b> &middot; up {} &middot; "
                   "rates over {:.1f} s, page refreshes every {} s</p>",
                   htmlEscape(info_.version), htmlEscape(info_.role), uptime(now_at - info_.started),
                   view.interval_seconds, info_.refresh_seconds);
  h += "<h2>Listeners</h2><ul>";
  if (info_.listeners)
    for (const auto& [what, url] : info_.listeners())
      h += fmt::format("<li>{}: <code>{}</code></li>", htmlEscape(what), htmlEscape(url));
  h += "</ul><p><a href=\"/metrics\">/metrics</a> &middot; <a href=\"/readyz\">/readyz</a> &middot; "
       "<a href=\"/healthz\">/healthz</a> &middot; <a href=\"/events\">/events</a> &middot; "
       "<a href=\"/notifications/\">/notifications/</a> (SSE)</p>";
  for (const auto& s : view.sections) {
    h += "<h2>" + htmlEscape(s.title) + "</h2>";
    if (s.rows.empty()) {
      h += "<p class=\"note\">" + htmlEscape(s.note) + "</p>";
      continue;
    }
    h += "<table><tr>";
    for (const auto& c : s.header) h += "<th>" + htmlEscape(c) + "</th>";
    h += "</tr>";
    for (const auto& row : s.rows) {
      h += "<tr>";
      for (const auto& c : row) h += "<td>" + htmlEscape(c) + "</td>";
      h += "</tr>";
    }
    h += "</table>";
  }
  h += "</body></html>\n";
  return h;
}

}  // namespace kobs::app::status
