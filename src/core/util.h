/*
 * Small helpers every module needs and no module owns.
 */
#ifndef KA_UTIL_H
#define KA_UTIL_H

#include <stddef.h>

/* The struct that embeds member at ptr: how intrusive timer and list nodes find their
 * connection without a back pointer. */
#define ka_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define KA_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KA_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
