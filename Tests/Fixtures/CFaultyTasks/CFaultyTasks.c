#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "CFaultyTasks.h"

#define KEY(name) name, sizeof name - 1

int32_t fails_with_3(const th_c_instance *instance, const th_c_host *host) {
    (void)instance;
    static const char line[] = "failing on purpose";
    host->log(line, sizeof line - 1);
    return 3;
}

int32_t store_payload(const uint8_t *data, size_t length, const th_c_host *host) {
    return host->settings_set_string(KEY("payload"), (const char *)data, length);
}

void note_trigger(const th_c_host *host, const th_c_instance *instance) {
    char text[256];
    const char *message = "";
    for (size_t i = 0; i < instance->argument_count; i++) {
        if (strcmp((const char *)instance->arguments[i].name.data, "message") == 0)
            message = (const char *)instance->arguments[i].value.data;
    }
    int n = snprintf(text, sizeof text, "kind=%u attempt=%u size=%u task=%s message=%s", instance->trigger_kind,
                     instance->attempt, instance->struct_size == sizeof(th_c_instance),
                     (const char *)instance->task_name.data, message);
    host->settings_set_string(KEY("trigger"), text, (size_t)n);
}

int32_t probe_host(const th_c_instance *instance, const th_c_host *host) {
    (void)instance;
    char report[512];
    char small[4], big[64];
    uint8_t raw[64];
    size_t length = 0, small_length = 0, raw_length = 0;
    int64_t number = 0;

    int32_t set = host->settings_set_string(KEY("s"), KEY("h\xc3\xa9llo"));
    int32_t too_small = host->settings_get_string(KEY("s"), small, sizeof small, &small_length);
    int32_t get = host->settings_get_string(KEY("s"), big, sizeof big, &length);
    int32_t wrong = host->settings_get_int64(KEY("s"), &number);
    int32_t get_raw = host->settings_get(KEY("s"), raw, sizeof raw, &raw_length);
    int32_t set_int = host->settings_set_int64(KEY("n"), -42);
    int32_t get_int = host->settings_get_int64(KEY("n"), &number);
    int32_t wrong_string = host->settings_get_string(KEY("n"), big + 32, 32, &raw_length);
    static const uint8_t bad_encoding[] = {99, 1, 2};
    int32_t bad = host->settings_set(KEY("bad"), bad_encoding, sizeof bad_encoding);
    static const uint8_t bool_true[] = {5, 1};
    int32_t raw_set = host->settings_set(KEY("flag"), bool_true, sizeof bool_true);
    int32_t deleted = host->settings_delete(KEY("s"));
    int32_t deleted_again = host->settings_delete(KEY("s"));
    int32_t missing = host->settings_get_int64(KEY("never-set"), &number);
    int32_t canceled = host->is_canceled();
    host->progress(42);
    host->log(KEY("probe done"));

    snprintf(report, sizeof report,
             "set=%d too_small=%d small_length=%zu get=%d length=%zu value=%s wrong=%d raw=%d raw_length=%zu tag=%u "
             "set_int=%d get_int=%d number=%lld wrong_string=%d bad=%d raw_set=%d deleted=%d deleted_again=%d "
             "missing=%d canceled=%d",
             set, too_small, small_length, get, length, big, wrong, get_raw, raw_length, raw[0], set_int, get_int,
             (long long)number, wrong_string, bad, raw_set, deleted, deleted_again, missing, canceled);
    return host->settings_set_string(KEY("report"), report, strlen(report));
}

int32_t wait_for_cancel(const th_c_host *host) {
    while (!host->is_canceled()) usleep(10 * 1000);
    host->settings_set_string(KEY("cancel"), KEY("saw cancel"));
    return 0;
}

int32_t never_returns(void) {
    for (;;) pause();
}

int32_t set_oversized(const th_c_host *host) {
    static char value[200 * 1024];
    memset(value, 'x', sizeof value);
    int32_t status = host->settings_set_string(KEY("big"), value, sizeof value);
    char text[64];
    int n = snprintf(text, sizeof text, "%d", status);
    return host->settings_set_string(KEY("status"), text, (size_t)n) == 0 ? 0 : 1;
}
