/*
 * systemd's notification protocol (sd_notify(3)), written by hand: one datagram of
 * "NAME=value" lines to the Unix socket named by NOTIFY_SOCKET. Without that variable
 * every call does nothing, so kahttpd behaves the same with or without systemd.
 */
#ifndef KA_SDNOTIFY_H
#define KA_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID. The variables stay in the
 * environment: a binary upgrade's new process notifies the same manager. */
void ka_notify_init(void);

/* Sends one message ("READY=1", "STATUS=...", lines joined by '\n'); errors are
 * reported once on stderr and otherwise ignored: the manager may be gone. */
void ka_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether a manager listens. */
bool ka_notify_enabled(void);

/* How often WATCHDOG=1 is due, in ms (half of WATCHDOG_USEC), 0 when no watchdog is
 * asked of this process. */
int64_t ka_notify_watchdog_ms(void);

#endif
