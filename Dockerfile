# The `sluice` binary in a small image. Build: docker build -t sluice .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sluice-proxy --bin sluice

FROM debian:bookworm-slim
COPY --from=build /src/target/release/sluice /usr/local/bin/sluice
# Keys are written and read by this user; the gateway needs no privileges.
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin sluice
USER sluice
ENTRYPOINT ["sluice"]
CMD ["--help"]
