/*
 * taskhost plugin ABI, version 1.
 *
 * This header is the only thing the host and a plugin share. A plugin library
 * exports one symbol, `taskhost_plugin_v1`, returning a pointer to a static
 * `th_plugin_v1` descriptor. Everything that crosses the boundary is plain C:
 * fixed-width integers, UTF-8 byte strings with explicit lengths, and tables
 * of function pointers. No Swift type ever crosses it (see the README's
 * design section for why).
 *
 * Swift plugins get the export for free from BackgroundTaskKit. Plugins in C,
 * Rust or Zig can implement the descriptor themselves, or, more simply, export
 * plain functions that the manifest names with "Abi": "c" (taskhost_c_task.h).
 *
 * Ownership: every pointer handed to a callee is borrowed for the duration of
 * the call only. A callee that needs the data later copies it.
 */
#ifndef TASKHOST_ABI_H
#define TASKHOST_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. Bumped on any incompatible change. */
#define TH_ABI_VERSION 1u

/* Name of the symbol a plugin exports. */
#define TH_PLUGIN_ENTRY_SYMBOL "taskhost_plugin_v1"

/* A borrowed run of bytes (not NUL-terminated). */
typedef struct th_bytes {
    const uint8_t *data;
    size_t length;
} th_bytes;

/* A borrowed name/value pair (HTTP header, application trigger argument). */
typedef struct th_pair {
    th_bytes name;
    th_bytes value;
} th_pair;

/* What fired the instance. */
typedef enum th_trigger_kind {
    TH_TRIGGER_APPLICATION = 0,
    TH_TRIGGER_PUSH_NOTIFICATION = 1,
    TH_TRIGGER_TIME = 2,
    /* A Web Push message (RFC 8030): payload is the decrypted content,
       channel_id the subscription id, headers "topic" and "urgency". */
    TH_TRIGGER_WEB_PUSH = 3,
} th_trigger_kind;

/* Everything the plugin needs to start one task instance. */
typedef struct th_run_request {
    uint32_t struct_size;       /* sizeof(th_run_request) as the host built it */
    th_bytes entry_point;       /* "Module.Class" (Swift) */
    th_bytes task_name;         /* the manifest's task Name */
    th_bytes task_id;           /* stable id of the registered task (UUID text) */
    th_bytes instance_id;       /* id of this instance (UUID text) */
    th_bytes trigger_id;        /* stable id of the trigger: the same on every retry */
    uint32_t attempt;           /* 1 for the first run of a trigger */
    uint32_t trigger_kind;      /* th_trigger_kind */
    th_bytes payload;           /* raw push content (Web Push: decrypted); empty for other triggers */
    th_bytes channel_id;        /* push channel id (Web Push: subscription id); empty for other triggers */
    const th_pair *headers;     /* push request headers */
    size_t header_count;
    const th_pair *arguments;   /* application trigger arguments */
    size_t argument_count;
} th_run_request;

/* Status codes returned by host callbacks. */
typedef enum th_status {
    TH_OK = 0,
    TH_NOT_FOUND = 1,          /* settings_get / settings_delete: no such key */
    TH_INVALID_ARGUMENT = 2,   /* the host refused the value (limits, encoding) */
    TH_HOST_UNAVAILABLE = 3,   /* the host went away: finish up quickly */
    TH_BUFFER_TOO_SMALL = 4,   /* settings_get: *out_length holds the size needed */
    TH_WRONG_TYPE = 5,         /* typed accessors of C tasks: the setting holds another type */
} th_status;

/*
 * What the host offers a running instance. All functions are thread-safe.
 * `context` is passed back as the first argument of every call.
 * Setting values are opaque byte strings here; BackgroundTaskKit defines their
 * encoding (see SettingValue), and the host validates it.
 */
typedef struct th_host_api {
    uint32_t struct_size;
    void *context;
    /* Appends one line to the instance's log (Debug.writeLine). */
    void (*log)(void *context, th_bytes line);
    /* Reports progress (0...100 by convention, like Windows). */
    void (*progress)(void *context, uint32_t value);
    /* Reads a setting into buffer[0..<capacity]; sets *out_length to its size. */
    int32_t (*settings_get)(void *context, th_bytes key, uint8_t *buffer,
                            size_t capacity, size_t *out_length);
    /* Writes a setting; the host has committed it when this returns TH_OK. */
    int32_t (*settings_set)(void *context, th_bytes key, th_bytes value);
    /* Removes a setting. */
    int32_t (*settings_delete)(void *context, th_bytes key);
    /* Lists setting names, each followed by a NUL byte, into buffer. */
    int32_t (*settings_keys)(void *context, uint8_t *buffer, size_t capacity,
                             size_t *out_length);
} th_host_api;

/* How an instance ended, from the plugin's point of view. */
typedef enum th_run_result {
    TH_RUN_COMPLETED = 0,      /* run returned and every deferral completed */
    TH_RUN_CANCELED = 1,       /* ended after a cancel request */
    TH_RUN_FAILED = 2,         /* run threw; message holds the error */
    TH_RUN_REFUSED = 3,        /* the entry point is unusable; message says why */
} th_run_result;

/* Result of checking an entry point without running it. */
typedef enum th_check_result {
    TH_CHECK_OK = 0,
    TH_CHECK_NOT_FOUND = 1,        /* no type with that name in the library */
    TH_CHECK_NOT_A_CLASS = 2,      /* the type is a struct or enum */
    TH_CHECK_NOT_FINAL = 3,        /* the class can be subclassed */
    TH_CHECK_NOT_CONFORMING = 4,   /* the class is not a BackgroundTask */
} th_check_result;

/* The descriptor a plugin returns from taskhost_plugin_v1(). Static storage. */
typedef struct th_plugin_v1 {
    uint32_t abi_version;           /* TH_ABI_VERSION the plugin was built with */
    uint32_t struct_size;           /* sizeof(th_plugin_v1) as the plugin built it */
    const char *sdk_version;        /* e.g. "0.1.0" */
    const char *build_signature;    /* "sdk=0.1.0;swift=6.3;target=x86_64-unknown-linux-gnu" */

    /* Checks that entry_point names a usable task class. Writes a sentence
       into message (NUL-terminated, truncated to capacity). */
    int32_t (*check_entry_point)(th_bytes entry_point, char *message, size_t capacity);

    /* Runs one instance to its end: returns once run has returned and every
       deferral is complete, or once the instance ended after cancellation.
       Called once per process. */
    int32_t (*run)(const th_run_request *request, const th_host_api *host,
                   char *message, size_t capacity);

    /* Requests cancellation of the running instance (any thread). The reason
       is a BackgroundTaskCancellationReason value (Windows numbering). */
    void (*cancel)(uint32_t reason);

    /* Optional (present when struct_size covers it, may be NULL). Called once
       by a pre-forked worker ("zygote") after loading the library and before
       it forks any instance: builds and discards what run builds for an
       instance of entry_point, without running task code or starting a
       thread, so that the forked children inherit warm runtime caches
       (Swift's generic metadata and protocol conformances) instead of each
       filling them again. */
    void (*prepare)(th_bytes entry_point);
} th_plugin_v1;

/* The type of the exported entry point. */
typedef const th_plugin_v1 *(*th_plugin_entry_v1)(void);

#ifdef __cplusplus
}
#endif

#endif /* TASKHOST_ABI_H */
