#ifndef CRASHING_CONSTRUCTOR_H
#define CRASHING_CONSTRUCTOR_H
int crashing_constructor_marker(void);
#endif
