#!/bin/bash
# let the standby stream from the primary
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
