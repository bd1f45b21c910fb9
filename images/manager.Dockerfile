# The operator's manager, static, FROM scratch (it talks only to the API server, with the
# service account's CA bundle).
FROM scratch
COPY manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
