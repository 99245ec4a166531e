# The `sluice` binary in a small image. Build: docker build -t sluice .
#
# The base images are build arguments so that scripts/compose-test can build on a machine with no
# image registry (from images it makes itself); everyone else gets the defaults below.
ARG BUILD_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
# The image's binary carries no debug info: the workspace's release profile keeps line tables
# for backtraces on developers' machines, which would make the image's binary several times
# larger. Set here, so that both builds below use the same settings (a change rebuilds the deps).
ENV CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo

# Dependencies first, from the manifests and the lock file alone, with stub sources: this layer
# is rebuilt only when a Cargo.toml or Cargo.lock changes, not on every source edit. The stubs'
# build records are removed after it: cargo would take the real sources (copied with older
# mtimes) as already built.
COPY Cargo.toml Cargo.lock ./
COPY proxy/Cargo.toml proxy/
COPY policy/Cargo.toml policy/
COPY tokens/Cargo.toml tokens/
COPY throwaway/Cargo.toml throwaway/
COPY integration/Cargo.toml integration/
# Patched copies of two crates.io packages (see third_party/README.md): dependencies like any other.
COPY third_party third_party
RUN for crate in proxy policy tokens throwaway integration; do \
        mkdir -p "$crate/src" && : > "$crate/src/lib.rs"; \
    done \
    && echo 'fn main() {}' > proxy/src/main.rs \
    && mkdir -p policy/benches && echo 'fn main() {}' > policy/benches/authorize.rs \
    && cargo build --release --locked -p sluice-proxy --bin sluice \
    && rm -rf proxy/src policy/src policy/benches tokens/src throwaway/src integration/src \
    && rm -rf target/release/.fingerprint/sluice-* target/release/deps/*sluice* target/release/sluice*

COPY . .
RUN cargo build --release --locked -p sluice-proxy --bin sluice

FROM ${RUNTIME_IMAGE}
COPY --from=build /src/target/release/sluice /usr/local/bin/sluice
# Keys are written and read by this user; the gateway needs no privileges. /keys exists in the
# image, owned by that user, so that a named volume mounted there starts out owned by it (a
# volume on a path the image lacks is created owned by root, and keygen could not write to it).
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin sluice \
    && mkdir /keys && chown sluice:sluice /keys && chmod 0700 /keys
USER sluice
ENTRYPOINT ["sluice"]
CMD ["--help"]
