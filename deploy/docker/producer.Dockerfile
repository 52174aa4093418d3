# The producer image: a static binary on scratch, with the CA bundle for TLS to
# Salesforce. Built by deploy/build-images.sh from deploy/.build/.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY producer /usr/local/bin/producer
COPY probe /usr/local/bin/probe
COPY examples /examples
# --out-dir for success/error CSVs; a named volume mounted here inherits the owner.
COPY --chown=65532:65532 empty /out
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/producer"]
