#!/bin/sh
# Reads a PrometheusRule on stdin and writes the plain rule file Prometheus loads: its last key,
# `spec`, is exactly a rule file indented by two spaces. POSIX sed, so it runs in the Prometheus
# image's busybox as well as under tests/deploy (which checks the output against the parsed spec).
exec sed -e '1,/^spec:$/d' -e 's/^  //'
