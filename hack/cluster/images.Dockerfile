# The local test cluster's own images (hack/cluster/up): one static binary FROM scratch,
# built from a staging folder holding it as ./app. Nothing is pulled.
FROM scratch
ARG USER=65532:65532
COPY app /app
USER ${USER}
ENTRYPOINT ["/app"]
