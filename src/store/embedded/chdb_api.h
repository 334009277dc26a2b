// The part of chDB's C API (libchdb, chdb.h of chDB 26.7) that kobs uses,
// declared here as function-pointer types: kobs loads libchdb.so with dlopen
// only when the embedded store is configured, so nothing links against it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kobs::store::chdb {

// Opaque handles, as chdb.h declares them.
struct Result;          // chdb_result
struct ConnectionImpl;  // *chdb_connection
using Connection = ConnectionImpl*;
struct InsertStreamImpl;
using InsertStream = InsertStreamImpl*;

enum State : int { kSuccess = 0, kError = 1 };

struct Api {
  Connection* (*connect)(int argc, char** argv);
  void (*close_conn)(Connection* conn);
  Result* (*query_n)(Connection conn, const char* query, size_t query_len, const char* format, size_t format_len);
  void (*destroy_query_result)(Result* result);
  char* (*result_buffer)(Result* result);
  size_t (*result_length)(Result* result);
  double (*result_elapsed)(Result* result);
  uint64_t (*result_rows_read)(Result* result);
  uint64_t (*result_bytes_read)(Result* result);
  uint64_t (*result_rows_written)(Result* result);
  const char* (*result_error)(Result* result);
  InsertStream (*stream_insert_n)(Connection conn, const char* query, size_t query_len, const char* format,
                                  size_t format_len);
  int (*stream_append)(InsertStream stream, const void* data, size_t len);
  Result* (*stream_done)(InsertStream stream);
  const char* (*stream_insert_error)(InsertStream stream);
  void (*destroy_insert_stream)(InsertStream stream);
  const char* (*version)();
};

}  // namespace kobs::store::chdb
