#!/usr/bin/env bash
# scripts/ceph/stop.sh DATA_DIR [--wipe]
# Stops the radosgw, ceph-osd and ceph-mon started by scripts/ceph/start.sh, by the pid files in DATA_DIR/run only.
#  - radosgw is stateless (everything lives in RADOS): SIGKILL (its clean shutdown waits ~10 s for lc/gc threads)
#  - ceph-osd / ceph-mon: SIGTERM and wait (~2 s each); memstore writes its RAM contents to DATA_DIR/osd.0
#    on this clean stop (osd_fast_shutdown=false), so scripts/ceph/start.sh DATA_DIR PORT later resumes with the data.
#  - --wipe: SIGKILL everything and rm -rf DATA_DIR (fastest CI teardown, <0.5 s)
set -u
D=${1:?usage: scripts/ceph/stop.sh DATA_DIR [--wipe]}
WIPE=0; [ "${2:-}" = --wipe ] && WIPE=1
alive() { # a killed daemon may linger as a zombie until init reaps it: count that as gone
  [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
stop_one() { # name signal timeout_s
  local f=$D/run/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if alive "$pid"; then
    kill -"$2" "$pid"
    for _ in $(seq 1 $(( $3 * 10 ))); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then echo "$1 ($pid) still running after $3 s, sending KILL" >&2; kill -KILL "$pid"; sleep 0.2; fi
  fi
  rm -f "$f"
}
if [ $WIPE = 1 ]; then
  for n in client.rgw.s3 osd.0 mon.a; do stop_one $n KILL 5; done
  rm -rf "$D"
else
  stop_one client.rgw.s3 KILL 5
  stop_one osd.0 TERM 60
  stop_one mon.a TERM 30
fi
