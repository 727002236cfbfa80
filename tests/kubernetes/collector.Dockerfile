# The pod test's Collector image: the binary scripts/interop/build-collector.sh builds (the build
# context holds only that file, named otelcol).
FROM debian:12
COPY otelcol /otelcol
ENTRYPOINT ["/otelcol"]
