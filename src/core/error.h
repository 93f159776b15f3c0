// error: how code in src/ says that something failed. One convention:
//
//     std::string open_listener(const ListenAddress& at, Fd& out);
//
//   - A function that can fail returns its error: "" when it worked, else one
//     sentence for the log and the operator that names the call that failed,
//     what it was doing, and errno_text(errno), as nginx words it:
//     "bind() failed for 127.0.0.1:8080: EADDRINUSE (Address already in use)".
//   - What it makes (a descriptor, a stored path, a parsed config) comes back
//     through its last parameter, which is set only when it worked.
//   - A caller that adds context puts it in front: "group web: " + error.
//
// Three things are not failures in this sense and keep their own shape: a
// parser's verdict on bytes (protocol/http_result.h: a request, "need more",
// or the status to answer with), a lookup that finds nothing (0, nullptr,
// nullopt), and a wrapper of one read() or write() that keeps the syscall's
// ssize_t and errno (Buffer::read_from), so its caller decides what EAGAIN means.
#pragma once

#include <string>

namespace smooth {

// "EAGAIN (Resource temporarily unavailable)": the symbolic name an operator
// can search for, and the sentence that explains it.
std::string errno_text(int err);

}  // namespace smooth
