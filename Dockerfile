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
# A CA bundle for npm, for hosts that reach the npm registry through a TLS-inspecting egress proxy whose CA the
# base image does not trust: deploy/image/build.sh mounts the host's bundle into the RUN steps and names it here.
# Empty: npm uses the image's own CA certificates.
ARG NPM_CAFILE=

FROM ${BASE} AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN KOBS_SETUP_PROFILE=image scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt CMakePresets.json ./
COPY src src
# A ccache directory mounted at /ccache (deploy/image/build.sh does) makes a rebuild cheap; without it the
# build is simply cold. CMakeLists.txt hashes paths relative to the tree, so a developer's cache can hit: the
# build type and build directory are the release preset's (RelWithDebInfo, build/release), stripped below.
ENV CCACHE_DIR=/ccache
RUN cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKOBS_BUILD_TESTS=OFF -DKOBS_BUILD_BENCH=OFF \
      -DKOBS_DEFAULT_CHDB_LIB=/usr/lib/kobs/libchdb.so \
 && cmake --build build/release --target kobs -j"$(nproc)" \
 && strip --strip-unneeded -o /kobs build/release/src/app/kobs
COPY deploy/image/mkroot.sh /usr/local/bin/mkroot

# The runtime root. The compile above does not depend on WITH_CHDB, so both variants share it.
FROM build AS root
ARG WITH_CHDB
ARG NPM_CAFILE
# WITH_CHDB=1: libchdb.so from the npm registry (scripts/setup.sh: pinned version and sha512) and what it loads.
# CA certificates for TLS to ClickHouse, the Kubernetes API and JWKS (a runtime need only; installed here so the
# compile above stays cached).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/*
RUN if [ "$WITH_CHDB" = 1 ]; then \
      if [ -n "$NPM_CAFILE" ]; then export npm_config_cafile="$NPM_CAFILE"; fi; \
      KOBS_SETUP_PROFILE=image KOBS_SETUP_CHDB=1 scripts/setup.sh && rm -rf /var/lib/apt/lists/* \
      && mkdir -p /usr/lib/kobs && cp "$(find third_party/chdb -name libchdb.so | head -1)" /usr/lib/kobs/libchdb.so \
      && mkroot /usr/lib/kobs/libchdb.so; \
    else mkroot; fi

FROM scratch
COPY --from=root /rootfs/ /
ENV KOBS_DATA_DIR=/var/lib/kobs \
    KOBS_CHDB_LIB=/usr/lib/kobs/libchdb.so \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /var/lib/kobs
EXPOSE 8080 8083 8123 4317 4318 8000
ENTRYPOINT ["/usr/bin/kobs"]
CMD ["all"]
