/*
 * taskhost C tasks: background tasks written as plain C functions, in C, Rust,
 * Zig or anything that can export a C symbol. No descriptor, no SDK.
 *
 * The manifest names the function and says how to call it:
 *
 *     { "Name": "PushCounter", "Abi": "c", "Symbol": "on_push",
 *       "Signature": "int32 (instance, host)", "Library": "CPushCounter",
 *       "Triggers": [ { "Type": "PushNotification" } ] }
 *
 * "Signature" is "RETURN (PARAMETERS)": RETURN is int32 or void; PARAMETERS is
 * a comma-separated list, in any order, each at most once, of
 *
 *     instance   const th_c_instance *   what fired the instance
 *     host       const th_c_host *       the host's callbacks
 *     payload    const uint8_t *, size_t the trigger's payload (two C arguments)
 *
 * The default is "int32 (instance, host)":
 *
 *     int32_t on_push(const th_c_instance *instance, const th_c_host *host);
 *
 * The worker builds the call with libffi from that description.
 *
 * Return value (int32): 0 means Completed; any other value means Failed, with
 * the message "<symbol> returned <value>". A void function always completes.
 * If the host canceled the instance before the function returned, the
 * instance ends Canceled whatever it returned.
 *
 * Cancellation is cooperative: poll host->is_canceled() and return soon after
 * it becomes nonzero. A function still running when the grace period is over
 * is killed with its process, as a Swift task would be.
 *
 * Ownership and lifetime: everything the host hands over (th_c_instance, its
 * strings and pairs, th_c_host, the payload) is owned by the host and valid
 * until the function returns; copy what must outlive it. Strings are UTF-8,
 * with an explicit length, and also NUL-terminated (data[length] == 0); data is
 * never NULL. Pointers the task passes to a callback are borrowed for that call
 * only. Callbacks may be called from any thread until the function returns, and
 * must not be called after it returned. They block until the host answered
 * (settings are committed when settings_set* returns TH_OK).
 *
 * Each instance runs in its own process: globals start fresh every time, and
 * nothing but settings survives the instance.
 */
#ifndef TASKHOST_C_TASK_H
#define TASKHOST_C_TASK_H

#include "taskhost_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks a task function as exported from the shared library. */
#if defined(__GNUC__) || defined(__clang__)
#define TH_C_TASK_EXPORT __attribute__((visibility("default")))
#else
#define TH_C_TASK_EXPORT
#endif

/* What fired one instance of a C task. */
typedef struct th_c_instance {
    uint32_t struct_size;       /* sizeof(th_c_instance) as the host built it */
    uint32_t attempt;           /* 1 for the first run of a trigger */
    uint32_t trigger_kind;      /* th_trigger_kind */
    th_bytes task_name;         /* the manifest's task Name */
    th_bytes task_id;           /* stable id of the registered task (UUID text) */
    th_bytes instance_id;       /* id of this instance (UUID text) */
    th_bytes trigger_id;        /* stable id of the trigger: the same on every retry */
    th_bytes payload;           /* raw push content; empty for other triggers */
    th_bytes channel_id;        /* push channel id; empty for other triggers */
    const th_pair *headers;     /* push request headers, sorted by name */
    size_t header_count;
    const th_pair *arguments;   /* application trigger arguments, sorted by name */
    size_t argument_count;
} th_c_instance;

/*
 * What the host offers a running C task. Every callback is bound to the
 * running instance (a libffi closure), so none takes a context argument.
 * Setting names are UTF-8 (1 to 255 bytes). Status codes are th_status values.
 */
typedef struct th_c_host {
    uint32_t struct_size;       /* sizeof(th_c_host) as the host built it */

    /* Appends one line to the instance's log (taskhost logs ID). */
    void (*log)(const char *line, size_t length);
    /* Reports progress (0...100 by convention). */
    void (*progress)(uint32_t value);

    /* Reads a setting's encoded value (BackgroundTaskKit's SettingValue
       encoding: a tag byte, then the payload) into buffer[0..<capacity] and
       sets *out_length to its size. TH_NOT_FOUND when there is no such
       setting; TH_BUFFER_TOO_SMALL (with *out_length set) when it does not fit. */
    int32_t (*settings_get)(const char *key, size_t key_length, uint8_t *buffer, size_t capacity,
                            size_t *out_length);
    /* Writes an encoded value; the host validates it (TH_INVALID_ARGUMENT). */
    int32_t (*settings_set)(const char *key, size_t key_length, const uint8_t *value, size_t value_length);
    /* Removes a setting; TH_NOT_FOUND when there was none. */
    int32_t (*settings_delete)(const char *key, size_t key_length);

    /* Reads a string setting: copies its UTF-8 bytes and a NUL into buffer,
       sets *out_length to the byte count without the NUL. TH_WRONG_TYPE when
       the setting is not a string; TH_BUFFER_TOO_SMALL when capacity is not
       at least *out_length + 1. */
    int32_t (*settings_get_string)(const char *key, size_t key_length, char *buffer, size_t capacity,
                                   size_t *out_length);
    /* Writes a string setting (UTF-8, value_length bytes, no NUL needed). */
    int32_t (*settings_set_string)(const char *key, size_t key_length, const char *value, size_t value_length);
    /* Reads an integer setting (SettingValue int). TH_WRONG_TYPE when the
       setting holds another type. */
    int32_t (*settings_get_int64)(const char *key, size_t key_length, int64_t *out_value);
    /* Writes an integer setting (SettingValue int). */
    int32_t (*settings_set_int64)(const char *key, size_t key_length, int64_t value);

    /* Nonzero once the host asked the instance to stop (time limit,
       shutdown, …): finish quickly and return. */
    int32_t (*is_canceled)(void);
} th_c_host;

/* The default signature, "int32 (instance, host)". */
typedef int32_t (*th_c_task_fn)(const th_c_instance *instance, const th_c_host *host);

#ifdef __cplusplus
}
#endif

#endif /* TASKHOST_C_TASK_H */
