/*
 * The /_demo/ endpoints (--demo), as routes of the public listeners: sleep, stream,
 * events and echo (demo.c says what each shows).
 */
#ifndef KA_DEMO_H
#define KA_DEMO_H

#include "server/route.h"

/* Adds the /_demo/ routes to t; -1 when it is full. */
int ka_demo_add_routes(struct ka_routes *t);

#endif
