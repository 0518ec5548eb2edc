# stampede and stampede-target in one image.
#   docker build -t stampede .
#   docker run --rm stampede --help
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p stampede-engine -p stampede-target

FROM debian:bookworm-slim
COPY --from=build /src/target/release/stampede /usr/local/bin/stampede
COPY --from=build /src/target/release/stampede-target /usr/local/bin/stampede-target
COPY examples /examples
# Coordinator port (Locust's master port), the test server's port and
# /metrics (--metrics 0.0.0.0:9646, which needs --web-auth).
EXPOSE 5557 8080 9646
ENTRYPOINT ["stampede"]
