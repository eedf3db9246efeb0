// A library whose load-time code crashes: dlopen runs the constructor, which
// dereferences a null pointer. The host must quarantine it without crashing.
#include "crashing_constructor.h"

__attribute__((constructor)) static void crash_while_loading(void) {
    volatile int *nowhere = 0;
    *nowhere = 1;
}

int crashing_constructor_marker(void) { return 1; }
