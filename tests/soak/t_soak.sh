#!/bin/bash
# make check's short soak (SOAK_SECONDS, default 20).
exec "$(dirname "$0")/soak.sh" "${SOAK_SECONDS:-20}"
