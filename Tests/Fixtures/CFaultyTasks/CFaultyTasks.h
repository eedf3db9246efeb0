/* C tasks the tests load: failures, cancellation, other signatures, and a
   probe of every host callback. */
#ifndef CFAULTYTASKS_H
#define CFAULTYTASKS_H

#include "taskhost_c_task.h"

/* "int32 (instance, host)": logs and returns 3. */
TH_C_TASK_EXPORT int32_t fails_with_3(const th_c_instance *instance, const th_c_host *host);
/* "int32 (payload, host)": stores the payload as the string setting "payload". */
TH_C_TASK_EXPORT int32_t store_payload(const uint8_t *data, size_t length, const th_c_host *host);
/* "void (host, instance)": stores the trigger's kind, attempt and "message" argument. */
TH_C_TASK_EXPORT void note_trigger(const th_c_host *host, const th_c_instance *instance);
/* "int32 (instance, host)": calls every callback and stores what each returned in "report". */
TH_C_TASK_EXPORT int32_t probe_host(const th_c_instance *instance, const th_c_host *host);
/* "int32 (host)": polls is_canceled, then stores "saw cancel" in "cancel" and returns 0. */
TH_C_TASK_EXPORT int32_t wait_for_cancel(const th_c_host *host);
/* "int32 (host)": writes a 200 KiB string setting "big" (over the worker's
   limit) and stores the status it got, as a number, in "status". */
TH_C_TASK_EXPORT int32_t set_oversized(const th_c_host *host);

/* "int32 ()": ignores cancellation and never returns. */
TH_C_TASK_EXPORT int32_t never_returns(void);

#endif
