#!/bin/sh
# The Compose stack's Prometheus loads the alert rules from the Kubernetes PrometheusRule
# (deploy/base/monitoring/prometheusrule.yaml), so the rules exist once.
set -eu
/bin/sh /etc/prometheus/rules-from-prometheusrule.sh < /etc/prometheus/prometheusrule.yaml \
  > /etc/prometheus/rules/promptintern.rules.yml
exec /bin/prometheus "$@"
