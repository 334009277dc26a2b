# kobs image. Two variants from one file:
#   WITH_CHDB=0 (default)  kobs and the shared libraries it links, nothing else (split mode: agent,
#                          collector, serve against a ClickHouse server)
#   WITH_CHDB=1            the same plus libchdb.so (the embedded store; the chart's allInOne mode runs it,
#                          tagged <tag>-embedded)
#
#   podman build -t kobs:0.1.0 .
#   podman build -t kobs:0.1.0-embedded --build-arg WITH_CHDB=1 .
#
# BASE is a Debian 12 image; where no registry is reachable, deploy/image/build.sh makes one with
# debootstrap and passes it here. The build stage installs its packages with scripts/setup.sh (the same
# script a developer runs), in its image profile.
ARG BASE=docker.io/library/debian:12
ARG WITH_CHDB=0

FROM ${BASE} AS build
ARG WITH_CHDB
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN KOBS_SETUP_PROFILE=image KOBS_SETUP_CHDB=${WITH_CHDB} scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt CMakePresets.json ./
COPY src src
# A ccache directory mounted at /ccache (deploy/image/build.sh does) makes a rebuild cheap; without it the
# build is simply cold. CMakeLists.txt hashes paths relative to the tree, so a developer's cache hits.
ENV CCACHE_DIR=/ccache
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DKOBS_BUILD_TESTS=OFF -DKOBS_BUILD_BENCH=OFF \
      -DKOBS_DEFAULT_CHDB_LIB=/usr/lib/kobs/libchdb.so \
 && cmake --build build --target kobs -j"$(nproc)" \
 && strip --strip-unneeded -o /kobs build/src/app/kobs
# The runtime root: kobs, every shared library it loads (ldd), CA certificates (TLS to ClickHouse, the
# Kubernetes API, JWKS), a non-root user, /tmp. With WITH_CHDB=1 also libchdb.so and what it loads.
RUN set -eu; root=/rootfs; mkdir -p $root/usr/bin $root/etc/ssl/certs $root/tmp $root/var/lib/kobs; \
    chmod 1777 $root/tmp; cp /kobs $root/usr/bin/kobs; \
    libs() { ldd "$1" | awk '/=> \// {print $3} /^\t\/lib64\// {print $1}'; }; \
    targets=/kobs; \
    if [ "$WITH_CHDB" = 1 ]; then \
      mkdir -p $root/usr/lib/kobs; cp "$(find third_party/chdb -name libchdb.so | head -1)" $root/usr/lib/kobs/libchdb.so; \
      targets="$targets $root/usr/lib/kobs/libchdb.so"; \
    fi; \
    for t in $targets; do for l in $(libs "$t"); do mkdir -p "$root$(dirname "$l")"; cp -L "$l" "$root$l"; done; done; \
    cp /etc/ssl/certs/ca-certificates.crt $root/etc/ssl/certs/; \
    printf 'root:x:0:0:root:/:/usr/sbin/nologin\nkobs:x:65532:65532:kobs:/var/lib/kobs:/usr/sbin/nologin\n' >$root/etc/passwd; \
    printf 'root:x:0:\nkobs:x:65532:\n' >$root/etc/group; \
    printf 'hosts: files dns\n' >$root/etc/nsswitch.conf; \
    chown 65532:65532 $root/var/lib/kobs

FROM scratch
COPY --from=build /rootfs/ /
ENV KOBS_DATA_DIR=/var/lib/kobs \
    KOBS_CHDB_LIB=/usr/lib/kobs/libchdb.so \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /var/lib/kobs
EXPOSE 8080 8083 8123 4317 4318 8000
ENTRYPOINT ["/usr/bin/kobs"]
CMD ["all"]
