#!/usr/bin/env bash
# scripts/ceph/start.sh - bring up the S3-compatible server regctl's s3 tests, e2e tests and
# benchmark run against: a Ceph RADOS Gateway (Debian 12 packages radosgw ceph-mon ceph-osd
# ceph-common uuid-runtime, Ceph 16 "pacific") on 127.0.0.1, from nothing, in about 3 s.
# Used by test/helpers/ceph.ts and bench/s3.ts; adapted from the team's
# /work/shared/tools/start-ceph-s3.sh reference.
#
#   usage:  scripts/ceph/start.sh DATA_DIR PORT [BUCKET]
#
# Prints KEY=VALUE lines on stdout (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET,
# S3_REGION, S3_DATA_DIR, CEPH_PIDS); progress goes to stderr.
#
# Single-node micro cluster, started by hand (no systemd, no cephadm, no mgr):
#   ceph-mon  (msgr v2 on 127.0.0.1:PORT+1)
#   ceph-osd  (one OSD, objectstore memstore (default) or bluestore on a sparse file,
#              ports PORT+2..PORT+40)
#   radosgw   (beast HTTP frontend on 127.0.0.1:PORT)
# All config, keyrings, logs, pid files, sockets and data live under DATA_DIR.
# Re-running on an already-initialised DATA_DIR just restarts the daemons.
#
# Environment knobs:
#   OBJECTSTORE=memstore|bluestore   (default memstore: all object data in RAM, saved
#                                     to DATA_DIR only on clean stop; bluestore: data
#                                     in a sparse file DATA_DIR/osd.0/block, persistent)
#   STORE_GB=8                       memstore capacity / bluestore block-file size (GiB)
#   OSD_MEMORY_MB=1024               bluestore cache target (osd_memory_target)
#   S3_ACCESS_KEY / S3_SECRET_KEY    (defaults below)
#   S3_REGION=us-east-1              zonegroup api_name (what LocationConstraint may say)
#
# Stop:  scripts/ceph/stop.sh DATA_DIR          (radosgw KILL, osd+mon TERM; data kept, restart resumes it)
# Wipe:  scripts/ceph/stop.sh DATA_DIR --wipe   (KILL all three, rm -rf DATA_DIR)
set -euo pipefail

D=${1:?usage: scripts/ceph/start.sh DATA_DIR PORT [BUCKET]}
PORT=${2:?usage: scripts/ceph/start.sh DATA_DIR PORT [BUCKET]}
BUCKET=${3:-test-bucket}
OBJECTSTORE=${OBJECTSTORE:-memstore}
STORE_GB=${STORE_GB:-8}
OSD_MEMORY_MB=${OSD_MEMORY_MB:-1024}
AK=${S3_ACCESS_KEY:-AKIATESTTESTTEST0001}
SK=${S3_SECRET_KEY:-testsecrettestsecrettestsecrettestsecret}
REGION=${S3_REGION:-us-east-1}
MONPORT=$((PORT + 1))
RGWNAME=client.rgw.s3

mkdir -p "$D"
D=$(cd "$D" && pwd)
CONF=$D/ceph.conf
T0=$(date +%s.%N)
log() { printf '[start-s3 %5.1fs] %s\n' "$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN{print a-b}')" "$*" >&2; }
ceph_() { timeout 60 ceph -c "$CONF" "$@"; }
rgwadmin() { timeout 120 radosgw-admin -c "$CONF" -n client.admin "$@"; }

for b in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool ceph python3 uuidgen; do
  command -v "$b" >/dev/null || { echo "missing $b: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common uuid-runtime" >&2; exit 1; }
done

wait_port() { # port seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

running() { [ -f "$D/run/$1.pid" ] && kill -0 "$(cat "$D/run/$1.pid")" 2>/dev/null; }
port_busy() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }
running mon.a || ! port_busy "$MONPORT" || { echo "port $MONPORT (PORT+1, ceph-mon) is already in use" >&2; exit 1; }
running client.rgw.s3 || ! port_busy "$PORT" || { echo "port $PORT is already in use" >&2; exit 1; }

if [ ! -f "$D/.initialised" ]; then
  [ -z "$(ls -A "$D")" ] || { echo "$D is not empty and not an initialised s3 data dir" >&2; exit 1; }
  mkdir -p "$D/run" "$D/log" "$D/crash" "$D/mon.a" "$D/osd.0"
  FSID=$(uuidgen)
  cat > "$CONF" <<EOF
[global]
fsid = $FSID
mon_host = v2:127.0.0.1:$MONPORT
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_ipv4 = true
ms_bind_ipv6 = false
ms_bind_port_min = $((PORT + 2))
ms_bind_port_max = $((PORT + 40))
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = $D/keyring
run_dir = $D/run
admin_socket = $D/run/\$name.asok
pid_file = $D/run/\$name.pid
log_file = $D/log/\$name.log
crash_dir = $D/crash
log_to_stderr = false
err_to_stderr = false
mon_cluster_log_file = $D/log/cluster.log
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
mon_data_avail_crit = 1

[mon]
mon_data = $D/mon.\$id
mon_initial_members = a
# commit map changes every 50 ms instead of 1 s: pool creation etc. ~20x faster
paxos_propose_interval = 0.05
paxos_min_wait = 0.01

[osd]
osd_data = $D/osd.\$id
keyring = $D/osd.\$id/keyring
osd_objectstore = $OBJECTSTORE
memstore_device_bytes = $((STORE_GB * 1024 * 1024 * 1024))
bluestore_block_create = true
bluestore_block_size = $((STORE_GB * 1024 * 1024 * 1024))
bluestore_fsck_on_mount = false
bluestore_fsck_on_mkfs = false
bluestore_fsck_on_umount = false
osd_memory_target = $((OSD_MEMORY_MB * 1024 * 1024))
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 2
# clean umount on SIGTERM: memstore only writes its RAM contents to osd.0/ on a clean umount
osd_fast_shutdown = false

[$RGWNAME]
rgw_frontends = beast endpoint=127.0.0.1:$PORT
rgw_thread_pool_size = 64
rgw_enable_usage_log = false
# garbage-collect deleted/overwritten object data after 60 s instead of 2 h (matters for memstore RAM)
rgw_gc_obj_min_wait = 60
rgw_gc_processor_period = 60
rgw_dns_name =
# quotas checked against fresh bucket stats (tests set a bucket quota and expect it at once)
rgw_bucket_quota_ttl = 0
rgw_user_quota_bucket_sync_interval = 0
EOF
  log "mkfs mon"
  ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$D/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$D/keyring" --gen-key -n $RGWNAME --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
  monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MONPORT]" --enable-all-features --set-min-mon-release pacific "$D/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
  NEWOSD=1
fi

if ! running mon.a; then
  log "start mon"
  ceph-mon -c "$CONF" -i a
  wait_port "$MONPORT" 30 || { echo "mon did not come up, see $D/log/mon.a.log" >&2; exit 1; }
fi

if [ "${NEWOSD:-0}" = 1 ]; then
  log "mkfs osd ($OBJECTSTORE, ${STORE_GB} GiB)"
  OSD_UUID=$(uuidgen)
  OSD_KEY=$(ceph-authtool --gen-print-key)
  echo "{\"cephx_secret\": \"$OSD_KEY\"}" > "$D/osd.0/new.json"
  OSDID=$(ceph_ osd new "$OSD_UUID" -i "$D/osd.0/new.json")
  rm -f "$D/osd.0/new.json"
  [ "$OSDID" = 0 ] || { echo "unexpected osd id $OSDID" >&2; exit 1; }
  ceph-osd -c "$CONF" -i 0 --mkfs --key "$OSD_KEY" --osd-uuid "$OSD_UUID" >"$D/log/osd.0.mkfs.log" 2>&1
  printf '[osd.0]\n\tkey = %s\n' "$OSD_KEY" > "$D/osd.0/keyring"
fi

if ! running osd.0; then
  log "start osd"
  ceph-osd -c "$CONF" -i 0
  for _ in $(seq 1 600); do
    ceph_ osd dump 2>/dev/null | grep -q '^osd.0 up' && break
    sleep 0.2
  done
  ceph_ osd dump | grep -q '^osd.0 up' || { echo "osd did not come up, see $D/log/osd.0.log" >&2; exit 1; }
fi

if [ ! -f "$D/.initialised" ] && [ ! -f "$D/.user" ]; then
  log "create zone defaults + S3 user"
  # pre-create the pools rgw would otherwise create lazily on the first PUT / multipart upload
  for p in default.rgw.buckets.data default.rgw.buckets.non-ec; do
    ceph_ osd pool create "$p" 8 8 >/dev/null 2>&1
    ceph_ osd pool application enable "$p" rgw >/dev/null 2>&1
  done
  rgwadmin user create --uid=s3test --display-name="s3 test user" --access-key="$AK" --secret-key="$SK" >/dev/null
  # make the zonegroup answer to the AWS region name (LocationConstraint / GetBucketLocation)
  if [ "$REGION" != default ]; then
    rgwadmin zonegroup get > "$D/zonegroup.json"
    sed -i "s/\"api_name\": \"[^\"]*\"/\"api_name\": \"$REGION\"/" "$D/zonegroup.json"
    rgwadmin zonegroup set --infile "$D/zonegroup.json" >/dev/null
  fi
  touch "$D/.user"
fi

if ! running "$RGWNAME"; then
  log "start radosgw"
  radosgw -c "$CONF" -n $RGWNAME
  wait_port "$PORT" 120 || { echo "radosgw did not come up, see $D/log/$RGWNAME.log" >&2; exit 1; }
fi

if [ ! -f "$D/.initialised" ]; then
  log "create bucket"
  python3 "$(dirname "$(readlink -f "$0")")/create-bucket.py" "http://127.0.0.1:$PORT" "$REGION" "$AK" "$SK" "$BUCKET" \
    || { echo "create bucket $BUCKET failed" >&2; exit 1; }
  touch "$D/.initialised"
fi

log "ready"
cat <<EOF
S3_ENDPOINT=http://127.0.0.1:$PORT
S3_ACCESS_KEY=$AK
S3_SECRET_KEY=$SK
S3_BUCKET=$BUCKET
S3_REGION=$REGION
S3_DATA_DIR=$D
CEPH_PIDS=$(cat "$D/run/mon.a.pid") $(cat "$D/run/osd.0.pid") $(cat "$D/run/$RGWNAME.pid")
# stop: $(dirname "$(readlink -f "$0")")/stop.sh $D   (keeps data; add --wipe to kill fast and delete $D)
EOF
