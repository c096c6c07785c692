# tickrelay server with the demo arena, as a static binary on a distroless base.
#
#   docker build -t tickrelay --build-arg VERSION=v0.1.0 .
#   docker run --rm -p 4433:4433/udp -p 8080:8080 -e TICKRELAY_SECRET=... tickrelay
#
# Without TICKRELAY_SECRET (or -secret) the server runs in development mode: anyone can sign
# tokens. Mount a real certificate and pass -cert and -key for browsers outside localhost.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION, when given, is what -version reports as the module version (.git stays out of the image).
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/tickrelay/tickrelay/internal/cli.version=${VERSION}" \
      -o /out/tickrelay ./cmd/tickrelay

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tickrelay /usr/local/bin/tickrelay
USER nonroot:nonroot
# QUIC and WebTransport on UDP, the demo page, /healthz, /metrics and /cert-hash on TCP.
EXPOSE 4433/udp 8080/tcp
ENTRYPOINT ["/usr/local/bin/tickrelay"]
# Every interface of the container, not loopback only, and logs as JSON lines for collectors.
CMD ["-addr", "0.0.0.0:4433", "-http", "0.0.0.0:8080", "-log-format", "json"]
