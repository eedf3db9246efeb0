// A plugin built "elsewhere": it exports the taskhost entry point, but its
// build signature names another Swift compiler and ABI version, so the host
// must refuse it with a message that says what differs.
#include "taskhost_abi.h"

static int32_t check(th_bytes entry_point, char *message, size_t capacity) {
    (void)entry_point;
    if (capacity > 0) message[0] = 0;
    return TH_CHECK_OK;
}

static int32_t run(const th_run_request *request, const th_host_api *host, char *message, size_t capacity) {
    (void)request; (void)host;
    if (capacity > 0) message[0] = 0;
    return TH_RUN_COMPLETED;
}

static void cancel(uint32_t reason) { (void)reason; }

static const th_plugin_v1 descriptor = {
    .abi_version = 99,
    .struct_size = sizeof(th_plugin_v1),
    .sdk_version = "9.9.9",
    .build_signature = "sdk=9.9.9;abi=99;swift=5.9;target=x86_64-unknown-linux-gnu",
    .check_entry_point = check,
    .run = run,
    .cancel = cancel,
};

__attribute__((visibility("default"))) const th_plugin_v1 *taskhost_plugin_v1(void) {
    return &descriptor;
}
