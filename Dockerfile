# syntax=docker/dockerfile:1
# The spartakus image, for those who build with a container engine:
#   docker build -t ghcr.io/spartakus/spartakus:0.1.0 .
# The project's own way needs no engine: `image/build` writes the image as an OCI archive, the
# same on every build of a commit, and is what the release publishes (README, "The image"). This
# file runs the same image/build for the file system, so both give the same files: the binary at
# /spartakus, the libraries it needs, CA certificates, os-release, the user nonroot (65532), and
# the Debian packages' copyrights and records, from Debian bookworm's packages. No shell.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# Only what the build needs (see .dockerignore).
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY src ./src
# --locked: the versions in Cargo.lock, nothing resolved anew. The cache mounts keep the crates
# and compiled dependencies between builds; the binary is copied out of the cached target dir.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin spartakus \
    && cp target/release/spartakus /spartakus

# The file system, by image/build from the binary and Debian's packages (apt-get download).
FROM docker.io/library/python:3.11-slim-bookworm AS rootfs
# Time stamps of the files (BuildKit passes it on when given: --build-arg SOURCE_DATE_EPOCH=...).
ARG SOURCE_DATE_EPOCH
COPY image/build /src/image/build
COPY --from=build /spartakus /spartakus
RUN apt-get update -qq && /src/image/build --binary /spartakus --rootfs /rootfs

FROM scratch
# COPY --from keeps the owners and modes of the files as image/build made them.
COPY --from=rootfs /rootfs/ /
ARG REVISION=unknown
LABEL org.opencontainers.image.title="spartakus" \
      org.opencontainers.image.description="Anonymous, opt-in Kubernetes usage reporter (reporter, init and collector)" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.source="https://github.com/spartakus/spartakus" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/spartakus"]
