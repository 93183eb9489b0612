# Dockerfile -- Herald's image: every program (herald-pub, herald-sub, herald-store,
# herald-keygen, and herald-sub's programs of one sink each) built on Debian 12 with its -dev
# packages, run on bookworm-slim with the runtime libraries only, as the unprivileged user
# herald (uid 10001). No key, password or store is baked in: compose.yaml makes them in
# volumes on first start.
#
#   docker build -t herald .
#   podman build --format docker -t herald .        # podman: OCI format drops HEALTHCHECK
#   docker run --rm herald --help                    # herald-pub is the default program
#
# scripts/container-test.sh builds it and runs compose.yaml with it in the test suite.

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake pkg-config \
        libzmq3-dev libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev libjansson-dev \
        libcurl4-openssl-dev libssl-dev libmicrohttpd-dev libical-dev libxml2-dev libnats-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole source tree, less what .dockerignore leaves out (tests, docs, scripts, ...).
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DHERALD_TESTS=OFF \
 && cmake --build /build -j"$(nproc)" \
 && cmake --install /build --prefix /usr/local

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libzmq5 libprotobuf-c1 libsqlite3-0 \
        libjansson4 libcurl4 libssl3 libmicrohttpd12 libical3 libxml2 libnats3.4 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 herald \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/herald --no-create-home \
        --shell /usr/sbin/nologin herald \
 && mkdir -p /var/lib/herald /data /state /keys /relay \
 && chown herald:herald /var/lib/herald /data /state /keys /relay
COPY --from=build /usr/local/bin/herald-* /usr/local/bin/
# herald-sub's program of each sink (mail, webhook, calendar, atom, nats), which it becomes
COPY --from=build /usr/local/libexec/herald/ /usr/local/libexec/herald/
USER herald
WORKDIR /var/lib/herald
# /metrics, /healthz and /readyz inside the container; `herald-pub health` asks it.
ENV HERALD_METRICS=0.0.0.0:9100
EXPOSE 7700 7701 9100
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["herald-pub", "health"]
ENTRYPOINT ["herald-pub"]
CMD ["--help"]
