#ifndef HANGING_CONSTRUCTOR_H
#define HANGING_CONSTRUCTOR_H
int hanging_constructor_marker(void);
#endif
