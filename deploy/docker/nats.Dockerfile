# nats-server built from its Go module at the version pinned in go.mod (the
# tool directive), static, on scratch. Built by deploy/build-images.sh.
FROM scratch
COPY nats-server /usr/local/bin/nats-server
COPY probe /usr/local/bin/probe
EXPOSE 4222 6222 8222
ENTRYPOINT ["/usr/local/bin/nats-server"]
