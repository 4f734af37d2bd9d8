# observd container image.
#
#   podman build --format docker -t observd .      (docker build works too)
#   podman run --read-only --cap-drop=ALL --security-opt no-new-privileges \
#       -p 8080:8080 -p 9464:9464 observd
#
# Two stages: "build" compiles observd, runs its unit and integration
# suites and assembles a minimal root file system; the runtime image is that
# file system alone: the observd and observctl binaries (observd's page is
# compiled in), the shared libraries they link (glibc, libevent_core, zlib,
# ncurses — found with ldd, so nothing is listed by hand), the terminal
# descriptions of Debian's ncurses-base (for observctl top), observd's
# example config, passwd/group entries, and the dpkg records of those
# packages so that image scanners (trivy, grype) still see their Debian
# versions.  No shell, no package manager: nothing to patch in place —
# rebuild instead.  What there is to exec is observctl, to look at the
# server:
#   podman exec -it observd observctl top        (or status, snapshot --json)
# The health check is observd's own --probe client for the same reason.

FROM docker.io/library/debian:bookworm-slim AS build
# Lets CI prune stale build-stage images without touching anything else.
LABEL io.observd.stage=build

ARG DEBIAN_FRONTEND=noninteractive
# check: the unit suites; the integration suites start the real daemon.
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
        gcc libc6-dev make autoconf automake pkg-config \
        libevent-dev zlib1g-dev libncurses-dev check \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# Out-of-tree build: a source tree configured on the host (see
# .dockerignore) can never leak objects or a config.status into the image.
# QUICK: make check, not distcheck (that is CI's job on the host).
# The suites' timeouts are sized for a quiet machine; a build shares its
# cores with whatever else runs (as scripts/test.sh allows for).
ARG CK_TIMEOUT_MULTIPLIER=2
ENV CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER}
RUN autoreconf -fi \
 && mkdir /build && cd /build \
 && /src/configure -q --prefix=/usr --sysconfdir=/etc --localstatedir=/var --enable-werror \
 && make -s -j"$(nproc)" \
 && { make -s -j"$(nproc)" check || { cat test-suite.log; exit 1; }; } \
 && make -s install-strip DESTDIR=/staging

# The runtime root: everything observd and observctl open, and nothing else.
RUN set -eu; \
    r=/rootfs; \
    install -D -m 0755 /staging/usr/sbin/observd "$r/usr/sbin/observd"; \
    install -D -m 0755 /staging/usr/bin/observctl "$r/usr/bin/observctl"; \
    mkdir -p "$r/etc" "$r/lib"; \
    cp -a /staging/etc/observd "$r/etc/observd"; \
    cp -a /lib/terminfo "$r/lib/terminfo"; \
    for lib in $( (ldd /staging/usr/sbin/observd; ldd /staging/usr/bin/observctl) | grep -o '/[^ ]*' | sort -u); do \
        cp -L --parents "$lib" "$r"; \
    done; \
    for pkg in libc6 libevent-core-2.1-7 zlib1g libncursesw6 libtinfo6 ncurses-base; do \
        mkdir -p "$r/var/lib/dpkg/status.d" "$r/usr/share/doc/$pkg"; \
        dpkg-query -s "$pkg" > "$r/var/lib/dpkg/status.d/$pkg"; \
        cp -L "/usr/share/doc/$pkg/copyright" "$r/usr/share/doc/$pkg/"; \
    done; \
    cp -L /etc/os-release "$r/etc/os-release"; \
    printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
        'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' \
        'observd:x:10001:10001:observd:/nonexistent:/usr/sbin/nologin' > "$r/etc/passwd"; \
    printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' 'observd:x:10001:' > "$r/etc/group"; \
    chroot "$r" /usr/sbin/observd --version; \
    chroot "$r" /usr/bin/observctl --version

FROM scratch
COPY --from=build /rootfs/ /

LABEL org.opencontainers.image.title="observd" \
      org.opencontainers.image.description="Secure, observable prefork HTTP server: /, /health, /ready, Prometheus /metrics" \
      org.opencontainers.image.source="https://github.com/observd/observd"

# Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
# 8080: the app (/, /health, /ready, /metrics); 9464: the aggregator's /metrics.
EXPOSE 8080 9464
# SIGTERM drains: /ready goes 503, in-flight requests finish, exit 0 within
# drain_timeout (10 s by default; give the runtime's stop timeout more).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/sbin/observd", "--probe", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/sbin/observd"]
