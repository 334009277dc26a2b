// libFuzzer target for the OTLP decoders (protobuf and OTLP JSON, the three
// signals) and the AsString stringification the encoders apply to what they
// return. The first byte picks signal and encoding; the rest is the body.
// Anything but a kBadInput refusal (a crash, a leak, another error code) is a
// finding. Protobuf logs and traces also go through the wire reader
// (otlp_wire.h, the receiver's fast path): a body it takes that the generated
// parser refuses, or rows that differ between the two, is a finding. Built with clang by run_fuzz.sh; `make test` runs it for a bounded
// time, longer by hand: tests/collect/otlp/fuzz/run_fuzz.sh build/release 600
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <cstdio>

#include "collect/otlp/otlp_decode.h"
#include "collect/otlp/wire_equivalence.h"
#include "common/error.h"

using namespace kobs;
using namespace kobs::collect::otlp;

namespace {
size_t sink = 0;
void touch(const pipeline::Attributes& attrs) {
  for (const auto& [k, v] : attrs) sink += k.size() + pipeline::asString(v).size();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t sel = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Encoding enc = (sel & 1) ? Encoding::kJson : Encoding::kProtobuf;
  if (enc == Encoding::kProtobuf && (sel >> 1) % 3 != 2) {
    static const testing::Encoders encoders;
    const auto c = (sel >> 1) % 3 == 0 ? testing::compareLogs(encoders, body) : testing::compareSpans(encoders, body);
    if (!c.error.empty()) {
      std::fprintf(stderr, "wire reader and generated parser disagree: %s\n", c.error.c_str());
      std::abort();
    }
  }
  try {
    switch ((sel >> 1) % 3) {
      case 0: {
        auto d = decodeLogs(body, enc);
        for (const auto& r : d.records) {
          sink += pipeline::asString(r.body).size();
          touch(r.attributes);
          if (r.resource) touch(r.resource->attributes);
        }
        break;
      }
      case 1: {
        auto d = decodeSpans(body, enc);
        for (const auto& s : d.spans) {
          touch(s.attributes);
          for (const auto& e : s.events) touch(e.attributes);
        }
        break;
      }
      default: {
        auto d = decodeMetrics(body, enc);
        for (const auto& v : d.points)
          for (const auto& p : v) touch(p.attributes);
        break;
      }
    }
  } catch (const Exception& e) {
    if (e.code() != ErrorCode::kBadInput) std::abort();
  }
  return 0;
}
