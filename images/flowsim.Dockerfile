# The flowsim image: the static flowsim binary (CLI, matsim driver, connector proxy,
# `flowsim install` for the operator's init container) at /flowsim/flowsim, and the
# reference connector at /connector/connector when it was built. FROM scratch: nothing
# to pull, nothing but flowsim inside.
#
# Built by hack/docker-build.sh from a staging folder holding flowsim/ and connector/.
FROM scratch
COPY flowsim/ /flowsim/
COPY connector/ /connector/
USER 65532:65532
ENTRYPOINT ["/flowsim/flowsim"]
