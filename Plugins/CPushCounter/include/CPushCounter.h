/*
 * CPushCounter: the sample C task. The manifest declares it as
 *
 *     { "Name": "PushCounter", "Abi": "c", "Symbol": "on_push", "Library": "CPushCounter",
 *       "Triggers": [ { "Type": "PushNotification" }, { "Type": "Application" } ] }
 */
#ifndef CPUSHCOUNTER_H
#define CPUSHCOUNTER_H

#include "taskhost_c_task.h"

/* Logs the push, counts it in the "PushCount" setting and keeps its content
   in "LastPayload". Signature "int32 (instance, host)" (the default). */
TH_C_TASK_EXPORT int32_t on_push(const th_c_instance *instance, const th_c_host *host);

#endif
