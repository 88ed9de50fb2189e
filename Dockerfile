# syntax=docker/dockerfile:1
#
# Pulse container image: the `pulse` server binary plus its wasm site.
#
#   docker build -t pulse .
#   docker run -p 3000:3000 -e DATABASE_URL=postgres://… pulse
#
# The image carries no Postgres binaries, so it needs DATABASE_URL (docker-compose.yml provides
# a Postgres); without it the binary would try to start a managed cluster from local binaries.

# ---- build: wasm bundle + release server, via `cargo xtask build --release` ------------------
FROM rust:1.95-bookworm AS builder

RUN rustup target add wasm32-unknown-unknown

WORKDIR /src
ENV CARGO_TARGET_DIR=/build/target

# Only what the build needs (no local target/ or data/ even without a .dockerignore).
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY domain ./domain
COPY access ./access
COPY managed-pg ./managed-pg
COPY app ./app
COPY frontend ./frontend
COPY server ./server
COPY pipeline ./pipeline
COPY testkit ./testkit
COPY xtask ./xtask
COPY migrations ./migrations
COPY style ./style

# Builds the site into $CARGO_TARGET_DIR/site/pkg and the server into
# $CARGO_TARGET_DIR/release/pulse. wasm-opt is not installed, so the bundle ships unoptimised.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    cargo xtask build --release

# ---- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 pulse \
    && useradd --system --uid 10001 --gid pulse --home-dir /app --shell /usr/sbin/nologin pulse \
    && mkdir -p /app/bin /app/data \
    && chown pulse:pulse /app/data

COPY --from=builder /build/target/release/pulse /app/bin/pulse
COPY --from=builder /build/target/site /app/site

ENV PULSE_SITE_ROOT=/app/site \
    PULSE_BIND=0.0.0.0:3000 \
    PULSE_DATA_DIR=/app/data

WORKDIR /app
USER pulse:pulse
EXPOSE 3000

# No curl in the slim image: a plain HTTP/1.0 request over bash's /dev/tcp to /readyz
# (200 once Postgres answers), on the port taken from PULSE_BIND.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PULSE_BIND##*:} && printf 'GET /readyz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

ENTRYPOINT ["/app/bin/pulse"]
