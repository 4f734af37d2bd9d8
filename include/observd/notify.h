/*
 * notify.h - the systemd notification protocol (sd_notify(3)), written
 * out: one datagram to $NOTIFY_SOCKET.  Twenty lines do not justify a
 * dependency on libsystemd, and a container has no systemd at all.
 */
#ifndef OBSERVD_NOTIFY_H
#define OBSERVD_NOTIFY_H

/* Send "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=..." (lines
 * separated by '\n').  A no-op without $NOTIFY_SOCKET; 0 or -1. */
int	notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* OBSERVD_NOTIFY_H */
