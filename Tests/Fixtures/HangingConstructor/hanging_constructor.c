// A library whose load-time code never returns: dlopen runs the constructor,
// which sleeps forever. The scanner's time limit must stop it.
#include "hanging_constructor.h"
#include <unistd.h>

__attribute__((constructor)) static void hang_while_loading(void) {
    for (;;) pause();
}

int hanging_constructor_marker(void) { return 1; }
