// secret_file: a file that holds the link secret (docs/links.md), the rules
// it must pass before a byte of it is believed, and making a new one.
//
// The secret proves to a business worker that a connection comes from a
// gateway of this deployment, and to a gateway that it reached a real
// business worker (protocol/link.h). Whoever can read the file can be
// either; whoever can write it can choose the secret. So a secret file:
//   1. is opened with O_NOFOLLOW: a symbolic link is refused (it could point
//      anyone's secret, or a file they can write, at us);
//   2. is a regular file owned by the user the server runs as (the master's
//      effective user: the master reads it before any worker drops
//      privileges; the workers inherit the bytes, never the file);
//   3. has no permission bit for its group or others (mode 0600 or 0400);
//   4. holds at least kMinSecretBytes and at most kMaxSecretBytes. The secret
//      is the file's bytes, less one line end at the very end ("\n" or
//      "\r\n"), so `openssl rand -hex 32 > FILE` and a copy written without
//      the newline give the same secret.
// Each refusal names the file, what is wrong and the command that fixes it.
#pragma once

#include <cstddef>
#include <string>

namespace smooth {

inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxSecretBytes = 4096;
// What the master makes for an instance without link_secret_file: this many
// random bytes, written as twice as many hex digits (the secret is the text:
// read back under rule 4 it is the same, whatever the last random byte was,
// and it can be copied into another instance's link_secret_file as it is).
inline constexpr size_t kInstanceSecretBytes = 32;

// Reads the secret from `path` under rules 1 to 4 into `out`. "" or why it
// is refused (core/error.h's convention; without the config file's name: the
// caller says where the path came from).
std::string read_secret_file(const std::string& path, std::string& out);

// The instance's own secret at `path` (run_dir/link.secret): made at the
// first start, with O_CREAT | O_EXCL | O_NOFOLLOW and mode 0600, holding
// kInstanceSecretBytes from getrandom(2) in hex; read under rules 1 to 4 at every
// later start (an upgrade's new master too). `made` says which. "" or why not.
std::string make_or_read_secret_file(const std::string& path, bool& made, std::string& out);

}  // namespace smooth
