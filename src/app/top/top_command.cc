#include "app/top/top_command.h"

#include <curl/curl.h>
#include <curses.h>

#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "app/status/status_model.h"

namespace kobs::app::top {
namespace {

using Clock = std::chrono::steady_clock;

size_t appendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GET <url>/metrics; the body, or the error in `error`.
std::optional<std::string> fetchMetrics(const std::string& base, std::string& error) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    error = "curl_easy_init failed";
    return std::nullopt;
  }
  std::string url = base;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/metrics";
  std::string body;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl.get());
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK) {
    error = curl_easy_strerror(rc);
    return std::nullopt;
  }
  if (status != 200) {
    error = fmt::format("{} answered {}", url, status);
    return std::nullopt;
  }
  return body;
}

std::string clockNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

int runOnce(const TopOptions& o) {
  std::string error;
  auto first = fetchMetrics(o.url, error);
  if (!first) {
    std::cerr << "kobs top: cannot read " << o.url << "/metrics: " << error << std::endl;
    return 1;
  }
  auto before = status::snapshotOf(*first, Clock::now());
  std::this_thread::sleep_for(o.interval);
  auto second = fetchMetrics(o.url, error);
  if (!second) {
    std::cerr << "kobs top: cannot read " << o.url << "/metrics: " << error << std::endl;
    return 1;
  }
  auto view = status::summarize(status::snapshotOf(*second, Clock::now()), &before);
  std::cout << fmt::format("kobs top  {}  rates over {:.1f} s  {}", o.url, view.interval_seconds, clockNow()) << '\n';
  for (const auto& line : status::renderText(view, 80)) std::cout << line << '\n';
  std::cout.flush();
  return 0;
}

// Owns the curses screen: endwin() on every way out.
struct Screen {
  Screen() {
    initscr();
    raw();  // Ctrl-C arrives as a key, so the terminal is always restored
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    timeout(100);
  }
  ~Screen() { endwin(); }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;
};

int runLive(const TopOptions& o) {
  Screen screen;
  std::optional<status::Snapshot> before;
  std::vector<std::string> lines;
  std::string error;
  double interval = 0;
  size_t scroll = 0;
  auto next_fetch = Clock::now();
  for (bool dirty = true;;) {
    if (Clock::now() >= next_fetch) {
      next_fetch = Clock::now() + o.interval;
      if (auto body = fetchMetrics(o.url, error)) {
        auto now = status::snapshotOf(*body, Clock::now());
        auto view = status::summarize(now, before ? &*before : nullptr);
        interval = view.interval_seconds;
        lines = status::renderText(view, static_cast<size_t>(std::max(COLS, 20)));
        before = std::move(now);
        error.clear();
      }
      dirty = true;
    }
    if (dirty) {
      const int rows = std::max(LINES, 3), cols = std::max(COLS, 20);
      const size_t body_rows = static_cast<size_t>(rows - 2);
      if (lines.size() <= body_rows) scroll = 0;
      else scroll = std::min(scroll, lines.size() - body_rows);
      erase();
      std::string title = fmt::format("kobs top  {}  {}  {}", o.url,
                                      interval > 0 ? fmt::format("rates over {:.1f} s", interval) : "first look",
                                      clockNow());
      attron(A_REVERSE);
      mvaddnstr(0, 0, (title + std::string(cols, ' ')).c_str(), cols);
      attroff(A_REVERSE);
      for (size_t i = 0; i < body_rows && scroll + i < lines.size(); ++i)
        mvaddnstr(static_cast<int>(i + 1), 0, lines[scroll + i].c_str(), cols);
      std::string footer = error.empty() ? "q quit  arrows/j/k scroll"
                                         : "cannot read " + o.url + "/metrics: " + error + " (retrying)";
      mvaddnstr(rows - 1, 0, footer.c_str(), cols);
      refresh();
      dirty = false;
    }
    int ch = getch();
    switch (ch) {
      case ERR: break;
      case 'q': case 'Q': case 27: case 3: return 0;  // 3: Ctrl-C in raw mode
      case KEY_DOWN: case 'j': ++scroll, dirty = true; break;
      case KEY_UP: case 'k': if (scroll) --scroll; dirty = true; break;
      case KEY_NPAGE: case ' ': scroll += static_cast<size_t>(std::max(LINES - 3, 1)), dirty = true; break;
      case KEY_PPAGE: scroll -= std::min(scroll, static_cast<size_t>(std::max(LINES - 3, 1))), dirty = true; break;
      case KEY_RESIZE: next_fetch = Clock::now(), dirty = true; break;  // re-render at the new width
      default: break;
    }
  }
}

}  // namespace

int runTop(const TopOptions& options) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return options.once ? runOnce(options) : runLive(options);
}

}  // namespace kobs::app::top
