/*
 * smooth module interface, version 1.
 *
 * A module is a shared object that exports one C function:
 *
 *     const smooth_module *smooth_module_v1(void);
 *
 * The worker dlopen()s the module after fork (or the master does, before fork,
 * when the group says `preload = true`), calls the entry point once, checks
 * `api_version == SMOOTH_API_VERSION`, and from then on calls the callbacks
 * below from its single event-loop thread. Nothing here is thread-safe, and
 * nothing needs to be: one worker, one loop, one thread.
 *
 * The server side of the contract is the smooth_* functions at the bottom. They
 * are exported by the ./server binary (and only they: its --dynamic-list), so a module links
 * against nothing: the dynamic loader resolves them when the module is opened.
 *
 * Ownership rules, all of them:
 *   - Every pointer the server passes to a callback (messages, request fields,
 *     header arrays) is borrowed and valid only until that callback returns.
 *     Copy what you need to keep.
 *   - A connection is named by a smooth_conn_id, never by a pointer. An id stays
 *     unique for the worker's life; using the id of a closed connection is safe
 *     and makes the call return -1.
 *   - The module owns whatever it allocates; free it in on_worker_stop.
 *
 * What a reload does to a module: a module loaded by the worker (preload =
 * false) is loaded afresh by every replacement worker, so new code takes effect.
 * A module loaded by the master before fork (preload = true) or a `builtin:`
 * handler compiled into ./server is the code the workers were forked with, and
 * a reload cannot change it. That is the seed's limitation, kept on purpose.
 */
#ifndef SMOOTH_MODULE_H
#define SMOOTH_MODULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMOOTH_API_VERSION 1

/* The entry point's name carries the version, so a module built against a
 * future interface fails to load with a clear dlerror() instead of crashing. */
#define SMOOTH_ENTRY_SYMBOL "smooth_module_v1"

typedef struct smooth_worker smooth_worker; /* opaque: the worker calling you */
typedef uint64_t smooth_conn_id;

/* A borrowed byte range; not NUL-terminated. data is never NULL (an empty
 * field points at ""). */
typedef struct smooth_str {
    const char *data;
    size_t len;
} smooth_str;

typedef enum smooth_protocol {
    SMOOTH_HTTP = 1,  /* one message per HTTP request; answer with smooth_http_respond */
    SMOOTH_TEXT = 2,  /* one message per '\n'-terminated line (newline removed) */
    SMOOTH_FRAME = 3, /* 4-byte big-endian length (header included), then payload */
    SMOOTH_TCP = 4,   /* whatever bytes arrived, as they arrived */
    SMOOTH_WS_TEXT = 5,   /* a whole WebSocket text message (valid UTF-8) */
    SMOOTH_WS_BINARY = 6, /* a whole WebSocket binary message */
} smooth_protocol;

typedef struct smooth_header {
    smooth_str name;
    smooth_str value;
} smooth_header;

typedef struct smooth_http_request {
    smooth_str method;
    smooth_str target; /* as sent: path plus query */
    smooth_str path;   /* target up to '?' */
    smooth_str query;  /* after '?', empty if none */
    int minor_version; /* HTTP/1.<minor_version> */
    const smooth_header *headers;
    size_t header_count;
    smooth_str body; /* de-chunked when the request was chunked */
    smooth_str host; /* host[:port]: the Host header, or the authority of an absolute-form target */
} smooth_http_request;

typedef struct smooth_message {
    smooth_protocol protocol;
    smooth_str data;                  /* text, frame, tcp: the payload */
    const smooth_http_request *http;  /* http: the request; NULL otherwise */
} smooth_message;

typedef struct smooth_module {
    uint32_t api_version; /* must be SMOOTH_API_VERSION */
    const char *name;
    const char *version;  /* shown in logs and `status`; e.g. "2" */

    /* Called once in each worker, after the module is loaded and before the
     * worker accepts. Return 0 on success; anything else makes the worker exit
     * with SMOOTH_EXIT_START_FAILED, and a reload in progress is rolled back. */
    int (*on_worker_start)(smooth_worker *w);
    /* Called in workers of a group that is not reloadable when a reload runs:
     * they keep running, this is their chance to refresh what they can. */
    void (*on_worker_reload)(smooth_worker *w);
    /* Called once before the worker exits (after a drain, or on a hard stop). */
    void (*on_worker_stop)(smooth_worker *w);

    void (*on_connect)(smooth_worker *w, smooth_conn_id conn);
    void (*on_message)(smooth_worker *w, smooth_conn_id conn, const smooth_message *msg);
    void (*on_close)(smooth_worker *w, smooth_conn_id conn);
} smooth_module;

/* Any callback may be NULL. For HTTP, a module without on_message gets 404s.
 *
 * HTTP requests on one connection are handed over one at a time: the next
 * pipelined request is not delivered until the current one has been answered
 * with smooth_http_respond, which may happen later (from a timer). */

typedef const smooth_module *(*smooth_entry_fn)(void);

/* A module's source names its entry point with SMOOTH_MODULE(name):
 *
 *     SMOOTH_MODULE(hello) { static const smooth_module m = {...}; return &m; }
 *
 * Built as a shared object this is smooth_module_v1, the one symbol the loader
 * looks for. Compiled into ./server with -DSMOOTH_BUILTIN (the `builtin:NAME`
 * handlers) the same source gets a name of its own, smooth_builtin_NAME, so
 * several modules can live in one binary. */
#ifdef __cplusplus
#define SMOOTH_EXTERN_C extern "C"
#else
#define SMOOTH_EXTERN_C
#endif
#ifdef SMOOTH_BUILTIN
#define SMOOTH_MODULE(name) SMOOTH_EXTERN_C const smooth_module *smooth_builtin_##name(void)
#else
#define SMOOTH_MODULE(name) SMOOTH_EXTERN_C __attribute__((visibility("default"))) \
    const smooth_module *smooth_module_v1(void)
#endif

/* ---- Exit statuses a worker uses, so the master can say why it died. ---- */
#define SMOOTH_EXIT_MODULE_LOAD_FAILED 3  /* dlopen/dlsym/version check failed */
#define SMOOTH_EXIT_START_FAILED 4        /* on_worker_start returned non-zero */
#define SMOOTH_EXIT_SETUP_FAILED 5        /* epoll, privileges, ... failed */

/* ---- What a module can ask of the worker that called it. ---- */

/* Send bytes on a connection, framed for its protocol: text adds '\n', frame
 * adds the 4-byte length header, tcp sends as is, a WebSocket connection
 * sends one text message (the bytes must be UTF-8). Not for HTTP (use
 * smooth_http_respond). Returns 0, or -1 if the connection is gone. */
int smooth_send(smooth_worker *w, smooth_conn_id conn, const void *data, size_t len);

/* A WebSocket message: binary (non-zero) or text. Returns 0, or -1 if the
 * connection is gone or is not a WebSocket. */
int smooth_ws_send(smooth_worker *w, smooth_conn_id conn, const void *data, size_t len, int binary);

/* Answer the HTTP request this connection is waiting on. content_type may be
 * NULL (no Content-Type header). The server adds Date, Content-Length and
 * Connection. Returns 0, or -1 if the connection is gone or has no request
 * waiting. */
int smooth_http_respond(smooth_worker *w, smooth_conn_id conn, int status,
                        const char *content_type, const void *body, size_t len);

/* Close after what was already sent has been flushed (a WebSocket first
 * sends its close frame, 1000, and waits for the client's). Returns 0 or -1. */
int smooth_close(smooth_worker *w, smooth_conn_id conn);

/* ---- The gateway pattern (a group with role = business) ----
 *
 * In a business worker the connection ids a module receives name the
 * clients of the gateway group in front of it, wherever they are held: any
 * business worker reaches any client. smooth_send, smooth_ws_send and
 * smooth_close work on them as on local connections, and two more reach many
 * at once. (In any other worker these two return -1.) */

/* The same message to each of n clients (a text message, or binary). */
int smooth_send_many(smooth_worker *w, const smooth_conn_id *conns, size_t n, const void *data, size_t len,
                     int binary);
/* The same message to every client of every gateway worker linked to this
 * business worker. */
int smooth_broadcast(smooth_worker *w, const void *data, size_t len, int binary);

/* Run cb once after `ms` milliseconds. Returns a timer id (> 0). */
typedef void (*smooth_timer_fn)(smooth_worker *w, void *arg);
uint64_t smooth_timer_add(smooth_worker *w, uint64_t ms, smooth_timer_fn cb, void *arg);
void smooth_timer_cancel(smooth_worker *w, uint64_t timer_id);

/* One log line, prefixed with time, process and group like the server's own. */
void smooth_log(smooth_worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Who am I: this worker's pid, group name, slot (0..count-1) and generation
 * (how many reloads the master had done when it forked this worker). */
typedef struct smooth_worker_info {
    int pid;
    const char *group;
    int worker_id;
    uint64_t generation;
} smooth_worker_info;
smooth_worker_info smooth_whoami(smooth_worker *w);

/* A per-worker pointer for the module's own state. */
void smooth_set_userdata(smooth_worker *w, void *data);
void *smooth_userdata(smooth_worker *w);

#ifdef __cplusplus
}
#endif

#endif /* SMOOTH_MODULE_H */
