// The sample C task: what SampleBackgroundTask does, in plain C, plus a counter.
// No SDK: the host calls on_push through libffi and hands it a table of callbacks.
#include <stdio.h>
#include <string.h>

#include "CPushCounter.h"

static void log_line(const th_c_host *host, const char *line) { host->log(line, strlen(line)); }

int32_t on_push(const th_c_instance *instance, const th_c_host *host) {
    char line[256];
    // Strings from the host are NUL-terminated too, so %s works; the payload
    // may hold anything, so it is printed with its length.
    snprintf(line, sizeof line, "Background %s starting (attempt %u): %.*s", (const char *)instance->task_name.data,
             instance->attempt, (int)(instance->payload.length > 160 ? 160 : instance->payload.length),
             (const char *)instance->payload.data);
    log_line(host, line);

    static const char count_key[] = "PushCount";
    int64_t count = 0;
    int32_t status = host->settings_get_int64(count_key, sizeof count_key - 1, &count);
    if (status != TH_OK && status != TH_NOT_FOUND) {
        snprintf(line, sizeof line, "cannot read %s (status %d)", count_key, status);
        log_line(host, line);
        return status;
    }
    count += 1;
    status = host->settings_set_int64(count_key, sizeof count_key - 1, count);
    if (status != TH_OK) return status;

    // The payload as a string setting: the host checks that it is UTF-8.
    static const char last_key[] = "LastPayload";
    status = host->settings_set_string(last_key, sizeof last_key - 1, (const char *)instance->payload.data,
                                       instance->payload.length);
    if (status != TH_OK) {
        snprintf(line, sizeof line, "cannot store %s (status %d)", last_key, status);
        log_line(host, line);
        return status;
    }
    host->progress(100);
    snprintf(line, sizeof line, "Background %s completed: %lld pushes", (const char *)instance->task_name.data,
             (long long)count);
    log_line(host, line);
    return 0;
}
