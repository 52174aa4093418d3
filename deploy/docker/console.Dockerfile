# The console image: a static binary on scratch. Built by
# deploy/build-images.sh from deploy/.build/. In a container it must listen
# on all interfaces (KINETIC_CONSOLE_ADDR=:8080); publish the port on
# 127.0.0.1 only, or put it behind your authenticating proxy.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY console /usr/local/bin/console
COPY probe /usr/local/bin/probe
COPY examples /examples
USER 65532:65532
EXPOSE 8080
ENV KINETIC_CONSOLE_ADDR=:8080
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["/usr/local/bin/probe", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/console"]
