# syntax=docker/dockerfile:1
# Trent in a container: a static binary (no cgo, so no pkcs11 seal) in a
# distroless image, run as an unprivileged user, data in a volume.
# Build: docker build -t trent .       Run: see docs/operations.md.

FROM golang:1.26.11-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/trent ./cmd/trent \
    && /out/trent --version \
    && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/trent /usr/local/bin/trent
# The data directory, owned by the image's unprivileged user (65532).
COPY --from=build --chown=65532:65532 /out/data /var/lib/trent
USER 65532:65532
# TRENT_TLS_CERT and TRENT_TLS_KEY (mounted files) are needed on 0.0.0.0;
# TRENT_LOG_FORMAT=json for log collectors.
ENV TRENT_DATA_DIR=/var/lib/trent \
    TRENT_ADDR=0.0.0.0:8443
VOLUME ["/var/lib/trent"]
EXPOSE 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/trent", "health", "--insecure-skip-verify"]
ENTRYPOINT ["/usr/local/bin/trent"]
CMD ["server"]
