// Replacing a file so a crash leaves either the old or the new content, never
// a mix: write dir/name.tmp, fsync it, rename over the target, fsync the
// directory. The one helper for checkpoints, the disk buffer's state.json and
// dead letters (design: anything persisted is written this way).
//
// Threading: a pure function; callers serialise writes to the same file.
#pragma once

#include <filesystem>
#include <string_view>

namespace kobs {

enum class Durability { kFsync, kNoFsync };

// Throws Exception(kIo) naming the file and the failed step; the .tmp file is
// removed on failure. kNoFsync skips both fsyncs (rename stays atomic, but the
// content may be lost on power failure): for `buffer.fsync=never`.
void writeFileAtomically(const std::filesystem::path& file, std::string_view data,
                         Durability durability = Durability::kFsync);

}  // namespace kobs
