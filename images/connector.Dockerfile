# A connector image following the convention ENTRYPOINT ["/connector/connector"]; used for
# the example PostgreSQL connector (examples/materialize-postgres).
FROM scratch
COPY connector /connector/connector
USER 65532:65532
ENTRYPOINT ["/connector/connector"]
