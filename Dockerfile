# syntax=docker/dockerfile:1
# The spartakus image: the one binary (`spartakus init|report|collect|summary`) on a distroless
# base, run as the non-root UID/GID 65532 used by the manifests, with no shell or package manager.
#   docker build -t ghcr.io/spartakus/spartakus:0.1.0 .
# The binary is built against glibc, like the one measured in BENCHMARKS.md; the `cc` base
# carries glibc and libgcc and nothing else of note.

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

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="spartakus" \
      org.opencontainers.image.description="Anonymous, opt-in Kubernetes usage reporter and collector" \
      org.opencontainers.image.licenses="Apache-2.0"
# Owned by root and not writable by the user that runs it.
COPY --from=build /spartakus /spartakus
USER 65532:65532
ENTRYPOINT ["/spartakus"]
