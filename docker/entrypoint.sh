#!/usr/bin/env bash
# The image's entrypoint: one image plays the head, a worker, or a job.
#
#   head [ray start options]             a Ray head node, in the foreground
#   worker ADDRESS [ray start options]   a Ray worker node joining ADDRESS (host:port)
#   COMMAND ...                          an executable on PATH (bash, ray, python): run it
#                                        (what `ray up` and KubeRay do with the image)
#   anything else                        a flamboyance command: build, dedup, train...
#
# Token authentication (Ray >= 2.60): set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or
# mount the token file and set RAY_AUTH_TOKEN_PATH) on the head, every worker and every
# job; see docker/README.md.
set -euo pipefail

case "${1:-}" in
  head)
    shift
    exec ray start --head --port="${RAY_PORT:-6379}" --dashboard-host=0.0.0.0 \
      --ray-client-server-port="${RAY_CLIENT_PORT:-10001}" --block "$@"
    ;;
  worker)
    shift
    address="${1:-${RAY_ADDRESS:-}}"
    if [ -z "$address" ]; then
      echo "flamboyance-entrypoint: worker needs the head's address (worker HOST:6379, or RAY_ADDRESS)" >&2
      exit 2
    fi
    [ $# -gt 0 ] && shift
    exec ray start --address="$address" --block "$@"
    ;;
  "")
    exec flamboyance --help
    ;;
  *)
    if [[ "$1" != -* ]] && command -v "$1" >/dev/null 2>&1; then
      exec "$@"
    fi
    exec flamboyance "$@"
    ;;
esac
