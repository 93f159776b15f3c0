// random: unpredictable bytes from the kernel (getrandom(2)), for what an
// attacker must not guess: the link handshake's nonces, a gateway's token.
#pragma once

#include <cstddef>
#include <string>

namespace smooth {

// `n` random bytes into `out`. "" or what failed (core/error.h). getrandom
// blocks only until the kernel's pool is first ready, early in boot; it is
// retried on EINTR.
std::string random_bytes(size_t n, std::string& out);

}  // namespace smooth
