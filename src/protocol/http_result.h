// http_result: what every HTTP parsing step answers, picohttpparser style.
//
// parse_head(), parse_request(), parse_chunked() and ChunkedDecoder::feed()
// all say one of three things about the bytes they were given: "complete,
// it was this many bytes", "need more", or "error, answer with this status".
// They share this one shape so a connection handles them alike.
#pragma once

#include <cstddef>

namespace smooth::http {

enum class Parse { Complete, Incomplete, Error };

struct Result {
    Parse status = Parse::Incomplete;
    // parse_*(): Complete gives the bytes of the request (or head, or body),
    // where what follows starts; otherwise 0. ChunkedDecoder::feed(): the
    // bytes of its input it used, whatever the status.
    size_t consumed = 0;
    int error_status = 0;     // Error: the status to answer with
    const char* error = "";   // Error: a short reason for the log ("bad request line", ...)

    static Result complete(size_t consumed) { return {.status = Parse::Complete, .consumed = consumed}; }
    static Result incomplete(size_t consumed = 0) { return {.status = Parse::Incomplete, .consumed = consumed}; }
    static Result failure(int status, const char* why) {
        return {.status = Parse::Error, .error_status = status, .error = why};
    }
};

}  // namespace smooth::http
