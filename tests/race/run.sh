#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# run.sh: build the race driver and run it against a running PostgreSQL
# with batchup's migrations applied (libpq's PG* environment says where).
#
#   PGHOST=/tmp/pg PGDATABASE=batchup tests/race/run.sh
#
# RACE_SECONDS (default 10), RACE_CONNECTIONS (32), RACE_USERS (60),
# RACE_MAX_ACTIVE_USERS (20), RACE_DEFAULT_LIMIT (3), RACE_LEASE_SECONDS (2)
# tune the run; see race.c for what is checked.  It adds users named
# race_* and racecap_* (replacing earlier ones) and leaves them for
# inspection.  Exit status 0 when every invariant held.
set -eu
cd "$(dirname "$0")/../.."

if ! psql -XAtq -c "SELECT 'batchup.claim_slot(uuid,integer,integer,integer,integer,integer)'::regprocedure" >/dev/null 2>&1; then
    echo "race: no batchup schema in database '${PGDATABASE:-}' on '${PGHOST:-}': run batchup migrate first" >&2
    exit 1
fi

mkdir -p build
cc -O2 -Wall -Wextra -o build/race tests/race/race.c $(pkg-config --cflags --libs libpq) -lpthread
exec build/race
