#include "app/config.h"

#include <filesystem>

#include "alert/alert_config.h"
#include "collect/collector_registry.h"
#include "common/error.h"

namespace kobs::app {

using config::KeySpec;
using config::KeyType;

namespace {
// "8MiB": a default size from a component's header, as the table writes it.
std::string mib(uint64_t bytes) { return std::to_string(bytes >> 20) + "MiB"; }
}  // namespace

const config::Table& configTable() {
  static const config::Table kTable([] {
    std::vector<KeySpec> keys = {
      {"data_dir", KeyType::kString, "./data", "Where the embedded store, the disk buffer and checkpoints live.", {"KOBS_DATA_DIR"}},
      {"log.level", KeyType::kEnum, "info", "Log level.", {"KOBS_LOG_LEVEL"}, {"trace", "debug", "info", "warn", "error"}},
      {"log.format", KeyType::kEnum, "text", "Log line format: logfmt text or one JSON object per line.", {"KOBS_LOG_FORMAT"}, {"text", "json"}},
      {"http.listen", KeyType::kString, ":8080", "Address of the HTTP listener (/healthz, /readyz, /metrics, and the frontend API).", {"KOBS_HTTP_LISTEN", "LISTEN_ADDR"}},
      {"shutdown.timeout", KeyType::kDuration, "10s", "How long SIGTERM may take: buffers are flushed to the store within it.", {"KOBS_SHUTDOWN_TIMEOUT"}},

      {"store.kind", KeyType::kEnum, "embedded", "embedded: ClickHouse in-process (chDB), nothing else to run. clickhouse: a ClickHouse server over HTTP. Setting CLICKHOUSE_URL implies clickhouse.", {"KOBS_STORE_KIND"}, {"embedded", "clickhouse"}},
      {"store.database", KeyType::kString, "default", "Database of the OpenTelemetry tables.", {"KOBS_STORE_DATABASE", "CLICKHOUSE_DATABASE"}},
      {"store.embedded.library", KeyType::kString, "", "Path of libchdb.so (default: $KOBS_CHDB_LIB, else where scripts/setup.sh installs it).", {"KOBS_CHDB_LIB"}},
      {"store.embedded.max_memory", KeyType::kBytes, "1GiB", "Memory budget of the embedded engine: its hard limit (a query or insert beyond it fails; inserts are retried) and the size of its caches, as fractions of it: marks 1/8, primary index, skip-index marks and text-index postings 1/16 each, query cache and text-index headers 1/32, three small caches 1/64. 0: chDB's defaults (90% of RAM, a 5 GiB mark cache).", {"KOBS_STORE_EMBEDDED_MAX_MEMORY"}},
      {"store.embedded.skip_indexes_on_insert", KeyType::kBool, "false", "Build the tables' skip indexes (ClickStack's text indexes) on insert. Off: merges build them, inserts cost about half the CPU, and parts not merged yet (seconds to minutes old) are read without them.", {}},
      {"store.clickhouse.url", KeyType::kString, "http://localhost:8123", "ClickHouse HTTP interface URL.", {"KOBS_CLICKHOUSE_URL", "CLICKHOUSE_URL"}},
      {"store.clickhouse.user", KeyType::kString, "default", "ClickHouse user.", {"KOBS_CLICKHOUSE_USER", "CLICKHOUSE_USER"}},
      {"store.clickhouse.password", KeyType::kString, "", "ClickHouse password.", {"KOBS_CLICKHOUSE_PASSWORD", "CLICKHOUSE_PASSWORD"}, {}, true},
      {"store.clickhouse.auth", KeyType::kEnum, "basic", "How credentials are sent: HTTP basic auth or X-ClickHouse-User/X-ClickHouse-Key headers.", {"KOBS_CLICKHOUSE_AUTH"}, {"basic", "headers"}},
      {"store.clickhouse.compression", KeyType::kEnum, "gzip", "Compression of insert bodies.", {"KOBS_CLICKHOUSE_COMPRESSION"}, {"none", "gzip", "zstd"}},
      {"store.clickhouse.connect_timeout", KeyType::kDuration, "5s", "TCP/TLS connect timeout.", {}},
      {"store.clickhouse.request_timeout", KeyType::kDuration, "30s", "Whole-request timeout.", {}},
      {"store.clickhouse.max_retries", KeyType::kInt, "3", "Retries of one request on network errors and 5xx (the disk buffer retries batches beyond this, forever).", {}},
      {"store.clickhouse.tls_verify", KeyType::kBool, "true", "Verify the server's TLS certificate.", {}},

      {"schema.variant", KeyType::kEnum, "clickstack", "Table layout to create: ClickStack's (what HyperDX reads) or the stock OTel exporter's.", {"KOBS_SCHEMA_VARIANT"}, {"clickstack", "exporter"}},
      {"schema.ttl", KeyType::kDuration, "0", "Row time-to-live (0: keep forever), e.g. 72h or 30d.", {"KOBS_SCHEMA_TTL"}},
      {"schema.text_index", KeyType::kEnum, "auto", "Skip indexes: text() on ClickHouse >= 26.2, bloom filters below (auto), or forced.", {}, {"auto", "text", "bloom"}},
      {"schema.cluster", KeyType::kString, "", "Cluster name: ON CLUSTER DDL, Replicated tables and Distributed tables over them. Empty: single node.", {"KOBS_SCHEMA_CLUSTER"}},
      {"schema.cluster_zookeeper_path", KeyType::kString, "/clickhouse/tables/{shard}/{database}/{table}", "Cluster mode: first argument of ReplicatedMergeTree.", {}},
      {"schema.cluster_replica", KeyType::kString, "{replica}", "Cluster mode: second argument of ReplicatedMergeTree.", {}},
      {"schema.cluster_local_suffix", KeyType::kString, "_local", "Cluster mode: suffix of the per-node tables under the Distributed ones.", {}},
      {"schema.cluster_sharding_key", KeyType::kString, "rand()", "Cluster mode: sharding key of the Distributed tables.", {}},
      {"schema.dedup_window", KeyType::kInt, "1000", "non_replicated_deduplication_window set on plain MergeTree tables so replayed batches are not stored twice.", {}},

      {"buffer.max_bytes", KeyType::kBytes, mib(pipeline::kDefaultBufferMaxBytes), "Bound of the disk buffer (bytes not yet in the store); producers are slowed, then refused, beyond it.", {"KOBS_BUFFER_MAX_BYTES"}},
      {"buffer.segment_bytes", KeyType::kBytes, mib(pipeline::kDefaultSegmentBytes), "Size at which the disk buffer starts a new segment file.", {}},
      {"buffer.fsync", KeyType::kEnum, "always", "When appends reach the disk: after every batch, at most once per interval, or when the OS decides.", {"KOBS_BUFFER_FSYNC"}, {"always", "interval", "never"}},
      {"buffer.fsync_interval", KeyType::kDuration, "1s", "Interval for buffer.fsync=interval.", {}},
      {"buffer.memory_cache_bytes", KeyType::kBytes, mib(pipeline::kDefaultMemoryCacheBytes), "Batch bodies kept in memory for sending (by allocated size); older ones are read back from disk.", {}},
      {"batch.max_rows", KeyType::kInt, std::to_string(pipeline::kDefaultBatchMaxRows), "A batch is sealed at this many rows...", {"KOBS_BATCH_MAX_ROWS"}},
      {"batch.max_bytes", KeyType::kBytes, mib(pipeline::kDefaultBatchMaxBytes), "...or this many encoded bytes...", {}},
      {"batch.max_age", KeyType::kDuration, "1s", "...or when its first row is this old (the cap under load).", {"KOBS_BATCH_MAX_AGE"}},
      {"batch.linger", KeyType::kDuration, "5ms", "...or when no row has arrived for this long and the store is keeping up (an idle input is not held for batch.max_age).", {"KOBS_BATCH_LINGER"}},
      {"sender.max_insert_bytes", KeyType::kBytes, "0", "Bound of one insert the sender merges from batches waiting behind the one in flight (at most batch.max_rows rows; never below batch.max_bytes). 0: 8MiB on the embedded store (fewer, larger chDB inserts), batch.max_bytes on a server (an agent's memory).", {}},
      {"sender.linger", KeyType::kDuration, "200ms", "A small insert waits until its first batch is this old, taking the batches that arrive meanwhile: a trickle is stored in fewer, larger inserts (fewer parts to write and merge). Not a delay of acknowledgements or of the live /notifications feed in kobs all, which follow the disk buffer. 0: each insert as soon as the store is free.", {"KOBS_SENDER_LINGER"}},
      {"sender.writers", KeyType::kInt, "1", "Inserts in flight at once, each on its own thread and store connection; batches are still acknowledged in sequence (docs/performance.md).", {"KOBS_SENDER_WRITERS"}},
      {"sender.backoff_initial", KeyType::kDuration, "100ms", "First retry delay of a batch the store did not take.", {}},
      {"sender.backoff_max", KeyType::kDuration, "10s", "Largest retry delay.", {}},

      {"schema.krateo_events", KeyType::kBool, "true", "Create the composition-keyed krateo_events table and the view filling it from otel_logs (what /events and /notifications read).", {}},
      {"serve.cors_allow_origin", KeyType::kString, "*", "Access-Control-Allow-Origin of /events and /notifications.", {"KOBS_CORS_ALLOW_ORIGIN"}},
      {"serve.events_max_limit", KeyType::kInt, "1000", "Largest ?limit= accepted by /events.", {}},
      {"serve.recent_events.rows", KeyType::kInt, "200", "Newest rows kept in memory per recently active composition, so /events/{id} pages among them need no store query (the same bytes as the store's). 0: every page from the store.", {}},
      {"serve.recent_events.max_bytes", KeyType::kBytes, "64MiB", "Memory bound of those rows (estimated heap); beyond it the least recently active compositions leave.", {}},
      {"serve.recent_events.idle", KeyType::kDuration, "1h", "A composition without a new event for this long leaves memory (its pages come from the store).", {}},
      {"serve.publish_when_durable", KeyType::kBool, "true", "kobs all on the embedded store: publish events to the streams when their batch is durable in the disk buffer, before the store has them, with the ids the store gives them (lower latency). Off: after the insert commits and a tail query.", {}},
      {"serve.sse_keepalive", KeyType::kDuration, "25s", "Period of the `: keepalive` comment on SSE streams.", {"KOBS_SSE_KEEPALIVE"}},
      {"serve.sse_retry", KeyType::kDuration, "3s", "The `retry:` reconnect hint sent to SSE clients (0: none).", {}},
      {"serve.sse_poll_interval", KeyType::kDuration, "500ms", "How often the events table is tailed when no in-process commit wakes the feed (kobs serve).", {"KOBS_SSE_POLL_INTERVAL"}},
      {"serve.sse_lookback", KeyType::kDuration, "5s", "Window re-read for rows that become visible late (several writers, cluster clock skew); 0 disables.", {}},
      {"serve.sse_queue_frames", KeyType::kInt, "1024", "Writes queued per SSE client before it is disconnected as too slow.", {}},
      {"serve.sse_queue_bytes", KeyType::kBytes, "4MiB", "Bytes queued per SSE client before it is disconnected as too slow.", {}},
      {"serve.clickhouse_listen", KeyType::kString, ":8123", "Address of the read-only ClickHouse-compatible endpoint (embedded store only; empty: off).", {"KOBS_CLICKHOUSE_LISTEN"}},
      {"serve.clickhouse_users_file", KeyType::kString, "", "Users of the ClickHouse-compatible endpoint, one `name:sha256:<hex>` or `name:password` per line (a mounted Secret; re-read when it changes). Empty: no authentication.", {"KOBS_CLICKHOUSE_USERS_FILE"}},
      {"serve.clickhouse_write.enabled", KeyType::kBool, "false", "Let node agents (`kobs collect` with store.kind=clickhouse) write into this kobs's embedded store through serve.clickhouse_listen: INSERT ... FORMAT RowBinary into the OpenTelemetry tables, with deduplication tokens; needs serve.clickhouse_write.users_file.", {"KOBS_CLICKHOUSE_WRITE_ENABLED"}},
      {"serve.clickhouse_write.users_file", KeyType::kString, "", "Who may write (and read) through the write path: a file as serve.clickhouse_users_file (`name:sha256:<hex>` or `name:password` per line; re-read when it changes). The agents send these as store.clickhouse.user / password.", {"KOBS_CLICKHOUSE_WRITE_USERS_FILE"}},
      {"serve.clickhouse_write.max_body_bytes", KeyType::kBytes, "64MiB", "Largest insert body, decompressed; a larger one is refused (code 131, HTTP 413).", {}},
      {"serve.clickhouse_write.max_queued_bytes", KeyType::kBytes, "256MiB", "Insert bytes waiting for the store; beyond, inserts are refused with code 202 (HTTP 429) and the agents retry.", {}},
      {"auth.tokens_file", KeyType::kString, "", "File of accepted bearer tokens, one per line (enables auth on /events and /notifications).", {"KOBS_AUTH_TOKENS_FILE"}},
      {"auth.jwt_hs256_secret", KeyType::kString, "", "Accept JWTs signed HS256 with this secret (authn's JWT_SIGN_KEY).", {"KOBS_AUTH_JWT_SECRET", "JWT_SIGN_KEY"}, {}, true},
      {"auth.jwt_rs256_public_key_file", KeyType::kString, "", "Accept JWTs signed RS256 by the key in this PEM file.", {"KOBS_AUTH_JWT_PUBLIC_KEY_FILE"}},
      {"auth.jwt_issuer", KeyType::kString, "", "Required JWT `iss` (empty: any).", {}},
      {"auth.jwt_audience", KeyType::kString, "", "Required JWT `aud` (empty: any).", {}},
      {"auth.jwt_jwks_url", KeyType::kString, "", "Accept JWTs signed RS256 by a key of this JWKS, chosen by `kid` (authn's /.well-known/jwks.json); re-fetched on an unknown kid.", {"KOBS_AUTH_JWT_JWKS_URL", "JWT_JWKS_URL"}},
      {"auth.jwt_leeway", KeyType::kDuration, "5s", "Clock leeway on JWT `exp` and `nbf`.", {}},
      {"presenter.listen", KeyType::kString, "", "Address of the events-presenter API listener (what the current Krateo frontend calls; its port is :8083). Empty: off.", {"KOBS_PRESENTER_LISTEN"}},
      {"presenter.default_limit", KeyType::kInt, "50", "Page size of the presenter's /events when no limit is given.", {}},
      {"presenter.max_limit", KeyType::kInt, "500", "Largest page the presenter's /events returns.", {}},
      {"presenter.head_events", KeyType::kInt, "20000", "Events whose newest row the presenter keeps in memory (with its raw Event, about 1-2 KB each) to answer the top of /events without a ClickHouse query; pages below them come from the store. 0: off.", {}},
      {"presenter.sse_keepalive", KeyType::kDuration, "25s", "Period of the `: keepalive` comment on the presenter's /notifications (keep it under 45s: the frontend's polyfill reconnects after 45s of silence).", {}},
      {"presenter.require_clientconfig", KeyType::kBool, "false", "Refuse (401) a user whose `<dns1123(username)>-clientconfig` Secret (written by authn at login) is missing from presenter.clientconfig_namespace, as events-presenter does. Needs JWT auth; static tokens are refused.", {"KOBS_PRESENTER_REQUIRE_CLIENTCONFIG"}},
      {"presenter.clientconfig_namespace", KeyType::kString, "krateo-system", "Namespace of the users' clientconfig Secrets (authn's AUTHN_NS).", {"KOBS_PRESENTER_CLIENTCONFIG_NAMESPACE", "AUTHN_NS"}},
      {"presenter.authorize_namespaces", KeyType::kBool, "false", "Scope the presenter's /events and /notifications to the namespaces where the token's user and groups may list events (SubjectAccessReview; a cluster-wide grant sees all). Fails closed: 503 while the Kubernetes API cannot answer. Needs JWT auth; static tokens are refused (403).", {"KOBS_PRESENTER_AUTHORIZE_NAMESPACES"}},
      {"presenter.authz_cache_ttl", KeyType::kDuration, "30s", "How long access answers (reviews, found clientconfig Secrets) and the list of namespaces with events are reused; a revoked grant stops working within it.", {}},
      {"presenter.authz_cache_size", KeyType::kInt, "10000", "Most access answers kept (per user, groups and namespace).", {}},
    };
    for (auto kind : store::schema::allTableKinds()) {
      std::string name(store::schema::tableKindName(kind));
      keys.push_back({"schema.tables." + name, KeyType::kString, "",
                      "Name of the " + name + " table (empty: the variant's name, see docs/schema.md).", {}});
    }
    for (auto& k : collect::collectorConfigKeys()) keys.push_back(std::move(k));
    for (auto& k : serve::mcp::configKeys()) keys.push_back(std::move(k));
    for (auto& k : alert::alertConfigKeys()) keys.push_back(std::move(k));
    return keys;
  }());
  return kTable;
}

KobsConfig loadConfig(const std::optional<std::string>& path, const std::vector<std::string>& overrides,
                      const std::optional<std::string>& data_dir_flag) {
  auto env = config::processEnvironment();
  KobsConfig c;
  c.values = configTable().load(path, overrides, env);
  const auto& v = c.values;
  if (data_dir_flag) c.values.set("data_dir", *data_dir_flag, "flag");

  c.data_dir = v.str("data_dir");
  c.log_level = v.str("log.level");
  c.log_format = v.str("log.format");
  c.listen = v.str("http.listen");
  c.shutdown_timeout = v.duration("shutdown.timeout");
  c.mcp = serve::mcp::loadConfig(v, env);

  c.store.kind = v.str("store.kind");
  // The old proxy's Deployment sets only CLICKHOUSE_URL: that alone selects a server.
  if (!v.isSet("store.kind") && v.source("store.clickhouse.url").starts_with("env:")) c.store.kind = "clickhouse";
  c.store.database = v.str("store.database");
  c.store.embedded_library = v.str("store.embedded.library");
  c.store.embedded_skip_indexes_on_insert = v.boolean("store.embedded.skip_indexes_on_insert");
  c.store.embedded_max_memory = v.bytes("store.embedded.max_memory");
  if (c.store.embedded_max_memory != 0 && c.store.embedded_max_memory < (64ull << 20))
    throw Exception(ErrorCode::kBadConfig, "config key store.embedded.max_memory: at least 64MiB, or 0 for chDB's defaults");
  c.store.url = v.str("store.clickhouse.url");
  c.store.user = v.str("store.clickhouse.user");
  c.store.password = v.str("store.clickhouse.password");
  c.store.auth = v.str("store.clickhouse.auth");
  c.store.compression = v.str("store.clickhouse.compression");
  c.store.connect_timeout = v.duration("store.clickhouse.connect_timeout");
  c.store.request_timeout = v.duration("store.clickhouse.request_timeout");
  c.store.max_retries = static_cast<int>(v.integer("store.clickhouse.max_retries"));
  c.store.tls_verify = v.boolean("store.clickhouse.tls_verify");

  namespace sc = store::schema;
  c.schema.database = c.store.database;
  c.schema.variant = sc::parseVariant(v.str("schema.variant"));
  c.schema.ttl = std::chrono::duration_cast<std::chrono::seconds>(v.duration("schema.ttl"));
  c.schema.text_index = sc::parseTextIndex(v.str("schema.text_index"));
  c.schema.cluster.name = v.str("schema.cluster");
  c.schema.cluster.zookeeper_path = v.str("schema.cluster_zookeeper_path");
  c.schema.cluster.replica_name = v.str("schema.cluster_replica");
  c.schema.cluster.local_suffix = v.str("schema.cluster_local_suffix");
  c.schema.cluster.sharding_key = v.str("schema.cluster_sharding_key");
  for (auto kind : sc::allTableKinds())
    if (const auto& name = v.str("schema.tables." + std::string(sc::tableKindName(kind))); !name.empty())
      c.schema.table_names[kind] = name;
  if (v.integer("schema.dedup_window") <= 0)
    throw Exception(ErrorCode::kBadConfig, "config key schema.dedup_window: must be positive (replays would duplicate rows)");
  c.schema.deduplication_window = static_cast<uint64_t>(v.integer("schema.dedup_window"));
  c.schema.krateo_events = v.boolean("schema.krateo_events");

  auto& sv = c.serve;
  sv.allow_origin = v.str("serve.cors_allow_origin");
  sv.events_max_limit = static_cast<size_t>(std::max<int64_t>(1, v.integer("serve.events_max_limit")));
  sv.sse_keepalive = v.duration("serve.sse_keepalive");
  sv.sse_retry = v.duration("serve.sse_retry");
  sv.sse_poll_interval = v.duration("serve.sse_poll_interval");
  sv.sse_lookback = v.duration("serve.sse_lookback");
  sv.sse_queue_frames = static_cast<size_t>(std::max<int64_t>(1, v.integer("serve.sse_queue_frames")));
  sv.sse_queue_bytes = v.bytes("serve.sse_queue_bytes");
  sv.clickhouse_listen = v.str("serve.clickhouse_listen");
  sv.clickhouse_users_file = v.str("serve.clickhouse_users_file");
  sv.clickhouse_write.enabled = v.boolean("serve.clickhouse_write.enabled");
  sv.clickhouse_write.users_file = v.str("serve.clickhouse_write.users_file");
  sv.clickhouse_write.max_body_bytes = v.bytes("serve.clickhouse_write.max_body_bytes");
  sv.clickhouse_write.max_queued_bytes = v.bytes("serve.clickhouse_write.max_queued_bytes");
  if (sv.clickhouse_write.enabled && sv.clickhouse_write.users_file.empty())
    throw Exception(ErrorCode::kBadConfig,
                    "config key serve.clickhouse_write.users_file: must name who may write when "
                    "serve.clickhouse_write.enabled is true");
  if (sv.clickhouse_write.max_body_bytes == 0 || sv.clickhouse_write.max_queued_bytes < sv.clickhouse_write.max_body_bytes)
    throw Exception(ErrorCode::kBadConfig,
                    "config key serve.clickhouse_write.max_queued_bytes: must be at least max_body_bytes ({} bytes)",
                    sv.clickhouse_write.max_body_bytes);
  sv.auth.tokens_file = v.str("auth.tokens_file");
  sv.auth.jwt_hs256_secret = v.str("auth.jwt_hs256_secret");
  sv.auth.jwt_rs256_public_key_file = v.str("auth.jwt_rs256_public_key_file");
  sv.auth.jwt_issuer = v.str("auth.jwt_issuer");
  sv.auth.jwt_audience = v.str("auth.jwt_audience");
  sv.auth.jwt_jwks_url = v.str("auth.jwt_jwks_url");
  sv.auth.leeway = std::chrono::duration_cast<std::chrono::seconds>(v.duration("auth.jwt_leeway"));
  sv.recent_rows = static_cast<size_t>(std::max<int64_t>(0, v.integer("serve.recent_events.rows")));
  sv.recent_max_bytes = v.bytes("serve.recent_events.max_bytes");
  sv.recent_idle = v.duration("serve.recent_events.idle");
  sv.presenter_listen = v.str("presenter.listen");
  sv.presenter_default_limit = static_cast<size_t>(std::max<int64_t>(1, v.integer("presenter.default_limit")));
  sv.presenter_max_limit = static_cast<size_t>(std::max<int64_t>(1, v.integer("presenter.max_limit")));
  sv.presenter_head_events = static_cast<size_t>(std::max<int64_t>(0, v.integer("presenter.head_events")));
  sv.presenter_keepalive = v.duration("presenter.sse_keepalive");
  if (sv.presenter_keepalive.count() <= 0 || sv.presenter_keepalive > std::chrono::seconds(30))
    throw Exception(ErrorCode::kBadConfig, "config key presenter.sse_keepalive: must be in (0, 30s] (the frontend gives up on a stream after 45s of silence)");
  sv.cluster_name = v.str("k8s.events.cluster_name");
  if ((v.boolean("presenter.require_clientconfig") || v.boolean("presenter.authorize_namespaces")) &&
      sv.auth.jwt_hs256_secret.empty() && sv.auth.jwt_rs256_public_key_file.empty() && sv.auth.jwt_jwks_url.empty())
    throw Exception(ErrorCode::kBadConfig,
                    "config keys presenter.require_clientconfig/presenter.authorize_namespaces: need JWT auth "
                    "(auth.jwt_hs256_secret, auth.jwt_rs256_public_key_file or auth.jwt_jwks_url): the checks are made "
                    "for the token's user");
  if (v.duration("presenter.authz_cache_ttl").count() < 0)
    throw Exception(ErrorCode::kBadConfig, "config key presenter.authz_cache_ttl: must not be negative");

  auto& p = c.pipeline;
  p.buffer.dir = std::filesystem::path(c.data_dir) / "buffer";
  p.buffer.max_bytes = v.bytes("buffer.max_bytes");
  p.buffer.segment_bytes = v.bytes("buffer.segment_bytes");
  const auto& fsync = v.str("buffer.fsync");
  p.buffer.fsync = fsync == "always" ? pipeline::FsyncPolicy::kAlways
                   : fsync == "interval" ? pipeline::FsyncPolicy::kInterval
                                         : pipeline::FsyncPolicy::kNever;
  p.buffer.fsync_interval = v.duration("buffer.fsync_interval");
  p.buffer.memory_cache_bytes = v.bytes("buffer.memory_cache_bytes");
  if (v.integer("batch.max_rows") <= 0) throw Exception(ErrorCode::kBadConfig, "config key batch.max_rows: must be positive");
  p.batch.max_rows = static_cast<size_t>(v.integer("batch.max_rows"));
  p.batch.max_bytes = v.bytes("batch.max_bytes");
  p.batch.max_age = v.duration("batch.max_age");
  p.batch.linger = v.duration("batch.linger");
  if (p.batch.linger.count() < 0) throw Exception(ErrorCode::kBadConfig, "config key batch.linger: must not be negative");
  p.sender.merge_max_rows = p.batch.max_rows;
  const uint64_t max_insert = v.bytes("sender.max_insert_bytes");
  p.sender.merge_max_bytes =
      std::max<uint64_t>(max_insert != 0 ? max_insert : c.store.kind == "embedded" ? (8ull << 20) : 0, p.batch.max_bytes);
  p.sender.merge_linger = v.duration("sender.linger");
  if (p.sender.merge_linger.count() < 0) throw Exception(ErrorCode::kBadConfig, "config key sender.linger: must not be negative");
  if (v.integer("sender.writers") < 1 || v.integer("sender.writers") > 16)
    throw Exception(ErrorCode::kBadConfig, "config key sender.writers: must be between 1 and 16");
  p.sender.writers = static_cast<int>(v.integer("sender.writers"));
  p.sender.backoff_initial = v.duration("sender.backoff_initial");
  p.sender.backoff_max = v.duration("sender.backoff_max");
  if (p.buffer.max_bytes < p.batch.max_bytes)
    throw Exception(ErrorCode::kBadConfig, "config key buffer.max_bytes: must be at least batch.max_bytes ({} bytes)",
                    p.batch.max_bytes);
  return c;
}

}  // namespace kobs::app
